// Lanes on the GPU (Backend::fork_lanes, cuda/lanes.cpp): the allocator's reuse rules between a
// fork and its join, independent work on two streams giving what one stream gives, and an
// embedding call whose chunks alternate between lanes giving the same vectors, bit for bit, as
// with lanes switched off. Label `cuda`: skips itself without a CUDA device.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "cuda_harness.h"
#include "ferris/embedding_model.h"
#include "models/encoder/config.h"
#include "models/encoder/create.h"
#include "process_scratch.h"

namespace ferris::testing {
namespace {

namespace fs = std::filesystem;
namespace enc = models::encoder;
using CudaLanes = CudaTest;

constexpr int64_t kOddFloats = 123457;

TEST_F(CudaLanes, EachLaneReusesOnlyItsOwnBlocksUntilTheJoin) {
    auto& be = dynamic_cast<cuda::CudaBackend&>(gpu());
    be.empty_cache();  // no block of this size cached by an earlier test
    Tensor before_fork = be.empty({kOddFloats}, DType::F32);
    const void* before_ptr = before_fork.raw();

    ops::Lanes lanes(Device::cuda(0), 2);
    ASSERT_EQ(lanes.count(), 2);
    lanes.use(1);
    const void* lane1_ptr = nullptr;
    {
        Tensor t = be.empty({kOddFloats}, DType::F32);
        lane1_ptr = t.raw();
    }                        // freed during the fork: lane 1's
    before_fork = Tensor();  // made before the fork, freed in it: held until the join

    lanes.use(0);
    const size_t mallocs = be.allocator_stats().device_mallocs;
    Tensor on_lane0 = be.empty({kOddFloats}, DType::F32);
    EXPECT_NE(on_lane0.raw(), lane1_ptr) << "lane 0 took a block lane 1 may still be reading";
    EXPECT_NE(on_lane0.raw(), before_ptr) << "lane 0 took a block held until the join";
    EXPECT_EQ(be.allocator_stats().device_mallocs, mallocs + 1);

    lanes.use(3);  // modulo the count: lane 1
    Tensor on_lane1 = be.empty({kOddFloats}, DType::F32);
    EXPECT_EQ(on_lane1.raw(), lane1_ptr) << "lane 1 reuses its own block";
    on_lane1 = Tensor();
    on_lane0 = Tensor();
    lanes.join();

    // After the join every block is everyone's: three of this size, no new cudaMalloc.
    const size_t joined = be.allocator_stats().device_mallocs;
    std::vector<Tensor> again;
    std::vector<const void*> ptrs;
    for (int i = 0; i < 3; ++i) {
        again.push_back(be.empty({kOddFloats}, DType::F32));
        ptrs.push_back(again.back().raw());
    }
    EXPECT_EQ(be.allocator_stats().device_mallocs, joined);
    EXPECT_NE(std::find(ptrs.begin(), ptrs.end(), lane1_ptr), ptrs.end());
    EXPECT_NE(std::find(ptrs.begin(), ptrs.end(), before_ptr), ptrs.end());
    EXPECT_THROW(gpu().use_lane(1), Error);  // no fork open
}

TEST_F(CudaLanes, TwoLanesComputeWhatOneStreamComputes) {
    Rng rng(11);
    const Tensor w = up(random_tensor({768, 768}, DType::F16, rng, -0.05f, 0.05f));
    std::vector<Tensor> xs;
    for (int r = 0; r < 8; ++r) xs.push_back(up(random_tensor({4099, 768}, DType::F16, rng)));
    auto round = [&](int r) {
        // A temporary of the same size every round, freed at its end: were it handed to the other
        // lane while this one still reads it, the products would differ.
        const Tensor twice = ops::add(xs[static_cast<size_t>(r)], xs[static_cast<size_t>(r)]);
        return ops::linear(ops::linear(twice, w), w);
    };
    std::vector<std::vector<float>> want;
    for (int r = 0; r < 8; ++r) want.push_back(down(round(r)).to_floats());

    std::vector<Tensor> got;
    {
        ops::Lanes lanes(Device::cuda(0), 2);
        ASSERT_EQ(lanes.count(), 2);
        for (int r = 0; r < 8; ++r) {
            lanes.use(r);
            got.push_back(round(r));
        }
    }  // joined by the destructor
    for (int r = 0; r < 8; ++r)
        EXPECT_EQ(down(got[static_cast<size_t>(r)]).to_floats(), want[static_cast<size_t>(r)])
            << "round " << r;
}

TEST_F(CudaLanes, ChunksOnLanesGiveTheVectorsOfOneStream) {
    enc::EncoderConfig c = enc::preset(enc::Arch::MPNet, "all-mpnet-base-v2");
    c.num_hidden_layers = 2;
    const std::string dir = test_support::process_scratch_dir("ferris-lanes");
    enc::CreateOptions o;
    o.seed = 5;
    o.overwrite = true;
    enc::create_random_encoder(dir, c, o);
    std::vector<std::string> texts;
    for (int i = 0; i < 45; ++i) {
        std::string t = "passage " + std::to_string(i) + ":";
        for (int w = 0; w < (i * 7) % 90; ++w) t += " word" + std::to_string(w * i % 13);
        texts.push_back(t);
    }
    EmbeddingOptions eo;
    eo.device = Device::cuda(0);
    eo.dtype = DType::F16;
    eo.chunk_texts = 4;  // 12 chunks, taking turns on two lanes
    const EmbeddingModel model = EmbeddingModel::from_dir(dir, eo);
    const std::vector<float> on_lanes = model.encode(texts).to_floats();
    ::setenv("FERRIS_EMBED_LANES", "1", 1);
    const std::vector<float> one_stream = model.encode(texts).to_floats();
    ::unsetenv("FERRIS_EMBED_LANES");
    EXPECT_EQ(on_lanes, one_stream);
    fs::remove_all(dir);
}

}  // namespace
}  // namespace ferris::testing
