// A timeline of a CUDA program without Nsight Systems (not on the GPU machine): a CUPTI
// injection library. Build it as a shared library and run any binary with
//   CUDA_INJECTION64_PATH=/path/libcupti_trace.so FERRIS_TRACE_OUT=trace.csv ./binary ...
// It records every kernel, memcpy and memset (GPU start/end, ns) and every runtime API call (host
// start/end, same clock), one CSV row each: kind,start,end,correlation,name. Kernels keep their
// launch's correlation id, so a gap before a kernel can be told apart: the GPU waiting on the host
// (the launch call ended after the previous kernel) or not. `dev/trace_gaps.py` summarizes it.
// Tracing concurrent kernels does not serialize them; the overhead is small per record.
#include <cupti.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace {

constexpr size_t kBufferBytes = 8 << 20;
std::mutex g_mutex;
FILE* g_out = nullptr;

void check(CUptiResult r, const char* what) {
    if (r == CUPTI_SUCCESS) return;
    const char* msg = nullptr;
    cuptiGetResultString(r, &msg);
    std::fprintf(stderr, "cupti_trace: %s: %s\n", what, msg ? msg : "?");
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
    *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
    *size = kBufferBytes;
    *max_records = 0;
}

void write_row(const char* kind, uint64_t start, uint64_t end, uint32_t corr, const char* name) {
    std::fprintf(g_out, "%s,%llu,%llu,%u,\"%s\"\n", kind, static_cast<unsigned long long>(start),
                 static_cast<unsigned long long>(end), corr, name ? name : "");
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
    std::lock_guard<std::mutex> lock(g_mutex);
    CUpti_Activity* record = nullptr;
    while (g_out && cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
        switch (record->kind) {
            case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
            case CUPTI_ACTIVITY_KIND_KERNEL: {
                auto* k = reinterpret_cast<CUpti_ActivityKernel10*>(record);
                write_row("kernel", k->start, k->end, k->correlationId, k->name);
                break;
            }
            case CUPTI_ACTIVITY_KIND_MEMCPY: {
                auto* m = reinterpret_cast<CUpti_ActivityMemcpy6*>(record);
                char name[48];
                std::snprintf(name, sizeof name, "memcpy kind %u, %llu bytes", m->copyKind,
                              static_cast<unsigned long long>(m->bytes));
                write_row("memcpy", m->start, m->end, m->correlationId, name);
                break;
            }
            case CUPTI_ACTIVITY_KIND_MEMSET: {
                auto* m = reinterpret_cast<CUpti_ActivityMemset4*>(record);
                write_row("memset", m->start, m->end, m->correlationId, "memset");
                break;
            }
            case CUPTI_ACTIVITY_KIND_RUNTIME: {
                auto* a = reinterpret_cast<CUpti_ActivityAPI*>(record);
                const char* name = nullptr;
                cuptiGetCallbackName(CUPTI_CB_DOMAIN_RUNTIME_API, a->cbid, &name);
                write_row("runtime", a->start, a->end, a->correlationId, name);
                break;
            }
            default:
                break;
        }
    }
    std::free(buffer);
}

void finish() {
    check(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "flush");
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_out) std::fclose(g_out);
    g_out = nullptr;
}

}  // namespace

// Called by the CUDA driver when CUDA_INJECTION64_PATH names this library.
extern "C" int InitializeInjection() {
    const char* path = std::getenv("FERRIS_TRACE_OUT");
    g_out = std::fopen(path && *path ? path : "trace.csv", "w");
    if (!g_out) {
        std::fprintf(stderr, "cupti_trace: cannot write %s\n", path ? path : "trace.csv");
        return 0;
    }
    std::fprintf(g_out, "kind,start,end,correlation,name\n");
    check(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed), "callbacks");
    check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "kernels");
    check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY), "memcpy");
    check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMSET), "memset");
    check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME), "runtime");
    std::atexit(finish);
    return 1;
}
