// bf16 matrix products on Intel AMX (Sapphire Rapids and later): the tile unit multiplies a
// 16 x 32 bf16 tile by a 32 x 16 one into 16 x 16 f32 in one instruction, ~8x the multiply-adds a
// cycle of AVX512-BF16. Same numbers as gemm_bf16's vector kernels: activations rounded to bf16
// (nearest even), products accumulated in f32.
#pragma once

#include <cstdint>

namespace ferris::cpu {

// True when this build can use AMX (x86-64 with AVX512-BF16), the CPU has AMX-BF16, Linux lets
// this process use the tile registers (arch_prctl), and FERRIS_CPU_NO_AMX is not set. Checked once.
bool amx_usable();

// out (rows, outs) f32 = x (rows, in) f32 @ w (outs, in)^T, w in bf16, on the tile unit. Needs
// amx_usable() and outs >= 32. Threads over (32 output columns, token chunk) items.
void gemm_bf16_amx(float* out, const float* x, const uint16_t* w, int64_t rows, int64_t in,
                   int64_t outs);

// The same loops and layouts with the tile instructions emulated in scalar code: how the tests
// check the packing, edges and write-back on CPUs without AMX. Slow; tests only.
void gemm_bf16_amx_emulated(float* out, const float* x, const uint16_t* w, int64_t rows, int64_t in,
                            int64_t outs);

}  // namespace ferris::cpu
