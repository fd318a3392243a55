// Hopper (sm_90a) building blocks for gemm_sm90a.cu and its lab (dev/gemm_sm90a.cuh): mbarriers,
// TMA tile loads and stores, stmatrix, shared-memory matrix descriptors and the warpgroup MMA
// m64n256k16 with f32 accumulators. Device code only; sm_90a alone (wgmma and setmaxnreg need it).
#pragma once

#include <cuda.h>  // CUtensorMap
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace ferris::cuda::sm90 {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count));
}

// One arrival that also tells the barrier how many bytes the TMA loads will deliver to it.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)),
                 "r"(bytes)
                 : "memory");
}

__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}

// Waits until the phase of the given parity has completed. A fresh barrier is in phase 0, so a
// wait for parity 1 returns at once (the "previous" phase counts as complete).
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
    asm volatile(
        "{\n"
        ".reg .pred done;\n"
        "WAIT:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra WAIT;\n"
        "}\n" ::"r"(smem_u32(bar)),
        "r"(parity)
        : "memory");
}

// A 2-D tile of `map` at (x = inner coordinate, y = row) into shared memory; completion counted
// in bytes on `bar`. Rows past the tensor's end arrive as zeros.
__device__ __forceinline__ void tma_load_2d(void* dst, const CUtensorMap* map, uint64_t* bar, int x,
                                            int y) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
        " [%0], [%1, {%3, %4}], [%2];" ::"r"(smem_u32(dst)),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_u32(bar)), "r"(x), "r"(y)
        : "memory");
}

// The 2-D tile at (x, y) of `map` from shared memory (rows past the tensor's end are not
// written); one bulk group per commit. wait_read: until the groups have read their shared memory.
__device__ __forceinline__ void tma_store_2d(const CUtensorMap* map, const void* src, int x,
                                             int y) {
    asm volatile(
        "cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group [%0, {%2, %3}], [%1];" ::"l"(
            reinterpret_cast<uint64_t>(map)),
        "r"(smem_u32(src)), "r"(x), "r"(y)
        : "memory");
}
__device__ __forceinline__ void tma_store_commit() {
    asm volatile("cp.async.bulk.commit_group;" ::: "memory");
}
__device__ __forceinline__ void tma_store_wait_read() {
    asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
}
__device__ __forceinline__ void tma_store_wait_all() {
    asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
}
// Makes this thread's ordinary shared-memory writes visible to the TMA (the async proxy).
__device__ __forceinline__ void fence_async_shared() {
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}
// A barrier for `threads` threads (a multiple of 32) under id 1..15 (0 is __syncthreads).
__device__ __forceinline__ void named_barrier(int id, int threads) {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

// Four 8 x 8 matrices of 16-bit values, one row of 16 bytes per lane address (lanes 8i..8i+7:
// matrix i), each thread's r[i] being its two values of matrix i in the mma fragment layout.
__device__ __forceinline__ void stmatrix_x4(uint32_t addr, uint32_t r0, uint32_t r1, uint32_t r2,
                                            uint32_t r3) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};" ::"r"(addr),
                 "r"(r0), "r"(r1), "r"(r2), "r"(r3)
                 : "memory");
}

// Descriptor of a K-major operand tile whose rows are 128 bytes (64 16-bit values), loaded by
// TMA with the 128-byte swizzle: 8-row groups 1,024 bytes apart. Advancing the start address
// by 32 bytes steps 16 values along K inside the swizzled rows.
__device__ __forceinline__ uint64_t smem_desc_sw128(const void* tile) {
    return (uint64_t(smem_u32(tile) & 0x3FFFF) >> 4) | (uint64_t(1) << 16) |
           (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}

__device__ __forceinline__ void wgmma_fence() {
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accesses of an accumulator across the asynchronous MMAs.
__device__ __forceinline__ void fence_operand(float& r) { asm volatile("" : "+f"(r)::"memory"); }

template <uint32_t Regs>
__device__ __forceinline__ void setmaxnreg_dec() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(Regs));
}
template <uint32_t Regs>
__device__ __forceinline__ void setmaxnreg_inc() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(Regs));
}

// d (64 x 256 f32, the warpgroup's accumulator fragment) (+)= A (64 x 16) * B (256 x 16)^T, both
// K-major in shared memory. accumulate = 0 overwrites d.
#define FERRIS_WGMMA_M64N256K16(TYPE)                                \
    asm volatile(                                                    \
        "{\n"                                                        \
        ".reg .pred p;\n"                                            \
        "setp.ne.b32 p, %130, 0;\n"                                  \
        "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPE "." TYPE \
        "\n"                                                         \
        "{" FERRIS_WGMMA_REGS                                        \
        " %128, %129, p, 1, 1, 0, 0;\n"                              \
        "}\n"                                                        \
        : FERRIS_WGMMA_OUTS                                          \
        : "l"(a), "l"(b), "r"(accumulate))

template <typename T>
__device__ __forceinline__ void wgmma_m64n256k16(float (&d)[128], uint64_t a, uint64_t b,
                                                 int accumulate) {
#define FERRIS_WGMMA_REGS                              \
    " %0, %1, %2, %3, %4, %5, %6, %7,"                 \
    " %8, %9, %10, %11, %12, %13, %14, %15,"           \
    " %16, %17, %18, %19, %20, %21, %22, %23,"         \
    " %24, %25, %26, %27, %28, %29, %30, %31,"         \
    " %32, %33, %34, %35, %36, %37, %38, %39,"         \
    " %40, %41, %42, %43, %44, %45, %46, %47,"         \
    " %48, %49, %50, %51, %52, %53, %54, %55,"         \
    " %56, %57, %58, %59, %60, %61, %62, %63,"         \
    " %64, %65, %66, %67, %68, %69, %70, %71,"         \
    " %72, %73, %74, %75, %76, %77, %78, %79,"         \
    " %80, %81, %82, %83, %84, %85, %86, %87,"         \
    " %88, %89, %90, %91, %92, %93, %94, %95,"         \
    " %96, %97, %98, %99, %100, %101, %102, %103,"     \
    " %104, %105, %106, %107, %108, %109, %110, %111," \
    " %112, %113, %114, %115, %116, %117, %118, %119," \
    " %120, %121, %122, %123, %124, %125, %126, %127},"
#define FERRIS_WGMMA_OUTS                                                                          \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),            \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),    \
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), \
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), \
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), \
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), \
        "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), \
        "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), \
        "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), \
        "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), \
        "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), \
        "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),          \
        "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]),        \
        "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]),        \
        "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]),        \
        "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
    if constexpr (std::is_same_v<T, __half>)
        FERRIS_WGMMA_M64N256K16("f16");
    else
        FERRIS_WGMMA_M64N256K16("bf16");
#undef FERRIS_WGMMA_OUTS
#undef FERRIS_WGMMA_REGS
}
#undef FERRIS_WGMMA_M64N256K16

}  // namespace ferris::cuda::sm90
