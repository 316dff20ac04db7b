// examples/: the seed classifier's data reader, its dense head's gradients, and a few steps of
// real training on Fashion-MNIST (on the cpu engine, and on a GPU engine when there is a GPU).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "dense.h"
#include "io/json.h"
#include "support/test_support.h"
#include "trainer.h"

namespace {

namespace fs = std::filesystem;
using seed::kClasses;

// Fashion-MNIST as scripts/common.sh installs it (Debian's dataset-fashion-mnist), or the folder
// in RNNX_SEED_DATA (the GPU machine's copy).
std::string data_dir() {
  const char* env = std::getenv("RNNX_SEED_DATA");
  return env && *env ? env : "/usr/share/datasets/fashion-mnist";
}

// --- the dense head ----------------------------------------------------------------------------

// Mean cross-entropy of the head on feat (rows at stride ld), for finite differences.
double head_loss(const std::vector<double>& feat, int ld, int B, int D,
                 const std::vector<double>& Wb, const std::vector<int>& labels) {
  std::vector<double> logits(std::size_t(B) * kClasses), dlogits(logits.size());
  seed::dense_forward(feat.data(), ld, B, D, Wb.data(), Wb.data() + kClasses * D, logits.data());
  int correct = 0;
  return seed::softmax_cross_entropy(logits.data(), labels.data(), B, dlogits.data(), &correct) / B;
}

TEST(SeedClassifierHead, GradientsMatchFiniteDifferences) {
  const int B = 5, D = 7, ld = 3 * D;  // feat rows strided, as the last step inside y
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> feat(std::size_t(B) * ld), Wb(std::size_t(kClasses) * D + kClasses);
  for (double& v : feat) v = u(rng);
  for (double& v : Wb) v = u(rng);
  std::vector<int> labels = {3, 0, 9, 3, 7};

  std::vector<double> logits(std::size_t(B) * kClasses), dlogits(logits.size());
  seed::dense_forward(feat.data(), ld, B, D, Wb.data(), Wb.data() + kClasses * D, logits.data());
  int correct = 0;
  seed::softmax_cross_entropy(logits.data(), labels.data(), B, dlogits.data(), &correct);
  std::vector<double> dWb(Wb.size(), -1), dfeat(feat.size(), 0);
  seed::dense_backward(feat.data(), ld, dlogits.data(), B, D, Wb.data(), dWb.data(),
                       dWb.data() + kClasses * D, dfeat.data(), ld);

  const double h = 1e-6;
  double worst = 0;
  for (std::size_t k = 0; k < Wb.size(); ++k) {
    std::vector<double> plus = Wb, minus = Wb;
    plus[k] += h, minus[k] -= h;
    const double fd =
        (head_loss(feat, ld, B, D, plus, labels) - head_loss(feat, ld, B, D, minus, labels)) /
        (2 * h);
    EXPECT_NEAR(dWb[k], fd, 1e-8) << "parameter " << k;
    worst = std::max(worst, std::abs(dWb[k] - fd));
  }
  for (int b = 0; b < B; ++b) {
    for (int d = 0; d < D; ++d) {
      const std::size_t k = std::size_t(b) * ld + d;
      std::vector<double> plus = feat, minus = feat;
      plus[k] += h, minus[k] -= h;
      const double fd =
          (head_loss(plus, ld, B, D, Wb, labels) - head_loss(minus, ld, B, D, Wb, labels)) /
          (2 * h);
      EXPECT_NEAR(dfeat[k], fd, 1e-8) << "feat[" << b << "][" << d << "]";
      worst = std::max(worst, std::abs(dfeat[k] - fd));
    }
  }
  // The gaps between rows of a strided dfeat are not written.
  EXPECT_EQ(dfeat[D], 0.0);
  RecordProperty("worst_abs_error", std::to_string(worst));
}

TEST(SeedClassifierHead, SoftmaxCrossEntropyCountsHitsAndLoss) {
  // Two samples: logits favour class 2 for both; labels 2 (a hit) and 5 (a miss).
  std::vector<double> logits(2 * kClasses, 0.0), dlogits(logits.size());
  logits[2] = logits[kClasses + 2] = std::log(9.0);  // softmax: 9/18 on class 2, 1/18 elsewhere
  const int labels[] = {2, 5};
  int correct = -1;
  const double loss =
      seed::softmax_cross_entropy(logits.data(), labels, 2, dlogits.data(), &correct);
  EXPECT_EQ(correct, 1);
  EXPECT_NEAR(loss, -std::log(0.5) - std::log(1.0 / 18), 1e-12);
  EXPECT_NEAR(dlogits[2], (0.5 - 1) / 2, 1e-12);
  EXPECT_NEAR(dlogits[kClasses + 5], (1.0 / 18 - 1) / 2, 1e-12);
}

TEST(SeedClassifierHead, AdamFirstStepMovesEachParameterByTheRate) {
  // After one step m/c1 = g and v/c2 = g*g: the step is lr * g / (|g| + eps).
  std::vector<double> p = {1.0, -2.0, 0.5}, g = {0.3, -4.0, 0.0}, m(3, 0), v(3, 0);
  seed::adam_step(p.data(), g.data(), m.data(), v.data(), p.size(), 0.01, 1);
  EXPECT_NEAR(p[0], 1.0 - 0.01, 1e-9);
  EXPECT_NEAR(p[1], -2.0 + 0.01, 1e-9);
  EXPECT_EQ(p[2], 0.5);
  EXPECT_NEAR(m[1], 0.1 * -4.0, 1e-15);
  EXPECT_NEAR(v[1], 0.001 * 16.0, 1e-15);
}

// --- the IDX reader ----------------------------------------------------------------------------

class IdxFiles : public ::testing::Test {
 protected:
  static std::vector<unsigned char> header(std::uint32_t magic, std::vector<std::uint32_t> dims) {
    std::vector<unsigned char> b;
    for (std::uint32_t v : [&] {
           dims.insert(dims.begin(), magic);
           return dims;
         }()) {
      for (int shift = 24; shift >= 0; shift -= 8)
        b.push_back(static_cast<unsigned char>(v >> shift));
    }
    return b;
  }
  static std::vector<unsigned char> images(int count, int rows, int cols) {
    std::vector<unsigned char> b =
        header(0x803, {std::uint32_t(count), std::uint32_t(rows), std::uint32_t(cols)});
    for (int k = 0; k < count * rows * cols; ++k) b.push_back(static_cast<unsigned char>(k * 7));
    return b;
  }
  static std::vector<unsigned char> labels(int count, int first = 0) {
    std::vector<unsigned char> b = header(0x801, {std::uint32_t(count)});
    for (int k = 0; k < count; ++k) b.push_back(static_cast<unsigned char>((first + k) % 10));
    return b;
  }
  std::string write_gz(const std::string& name, const std::vector<unsigned char>& bytes) {
    const std::string path = (dir() / name).string();
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
    EXPECT_EQ(gzclose(f), Z_OK);
    return path;
  }
  // A complete dataset of small images; the test then spoils one file.
  void write_dataset(int train = 12, int test = 4) {
    write_gz("train-images-idx3-ubyte.gz", images(train, 3, 2));
    write_gz("train-labels-idx1-ubyte.gz", labels(train));
    write_gz("t10k-images-idx3-ubyte.gz", images(test, 3, 2));
    write_gz("t10k-labels-idx1-ubyte.gz", labels(test, 5));
  }
  // The message of the DataError that loading the folder throws ("" if none).
  std::string load_error() {
    try {
      seed::load_dataset(dir().string());
    } catch (const seed::DataError& e) {
      return e.what();
    }
    return "";
  }

  const fs::path& dir() const { return scratch_.path(); }

 private:
  rnnx::test::ScratchDir scratch_{"rnnx_idx"};
};

TEST_F(IdxFiles, ReadsAValidDataset) {
  write_dataset();
  const seed::Dataset d = seed::load_dataset(dir().string(), 5);
  EXPECT_EQ(d.train_images.count, 5);
  EXPECT_EQ(d.train_images.rows, 3);
  EXPECT_EQ(d.train_images.cols, 2);
  ASSERT_EQ(d.train_images.pixels.size(), 5u * 6);
  EXPECT_FLOAT_EQ(d.train_images.pixels[3], 21.0f / 255.0f);
  EXPECT_EQ(d.train_labels, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(d.test_images.count, 4);
  EXPECT_EQ(d.test_labels, (std::vector<int>{5, 6, 7, 8}));
}

TEST_F(IdxFiles, WrongMagicNumberNamesTheFile) {
  write_dataset();
  write_gz("t10k-labels-idx1-ubyte.gz", images(4, 3, 2));  // an images file where labels belong
  const std::string what = load_error();
  EXPECT_NE(what.find("t10k-labels-idx1-ubyte.gz"), std::string::npos) << what;
  EXPECT_NE(what.find("wrong magic number 0x00000803"), std::string::npos) << what;
}

TEST_F(IdxFiles, TruncatedImagesNameTheFile) {
  write_dataset();
  std::vector<unsigned char> b = images(12, 3, 2);
  b.resize(b.size() - 5);
  write_gz("train-images-idx3-ubyte.gz", b);
  const std::string what = load_error();
  EXPECT_NE(what.find("train-images-idx3-ubyte.gz: truncated"), std::string::npos) << what;
}

TEST_F(IdxFiles, CorruptedGzipNamesTheFile) {
  write_dataset();
  const std::string path = (dir() / "train-images-idx3-ubyte.gz").string();
  std::vector<char> gz;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    char c;
    while (std::fread(&c, 1, 1, f) == 1) gz.push_back(c);
    std::fclose(f);
  }
  ASSERT_GT(gz.size(), 30u);
  gz.resize(gz.size() - 12);  // cut into the deflate stream and its CRC
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(gz.data(), 1, gz.size(), f);
  std::fclose(f);
  const std::string what = load_error();
  EXPECT_EQ(what.rfind(path + ":", 0), 0u) << what;
}

TEST_F(IdxFiles, LabelCountMismatchNamesBothFiles) {
  write_dataset();
  write_gz("train-labels-idx1-ubyte.gz", labels(11));
  const std::string what = load_error();
  EXPECT_NE(what.find("train-labels-idx1-ubyte.gz: 11 labels for the 12 images"), std::string::npos)
      << what;
  EXPECT_NE(what.find("train-images-idx3-ubyte.gz"), std::string::npos) << what;
}

TEST_F(IdxFiles, LabelOutsideTheClassesNamesTheFile) {
  write_dataset();
  std::vector<unsigned char> b = labels(4);
  b.back() = 10;
  write_gz("t10k-labels-idx1-ubyte.gz", b);
  const std::string what = load_error();
  EXPECT_NE(what.find("t10k-labels-idx1-ubyte.gz: label 3 is 10"), std::string::npos) << what;
}

TEST_F(IdxFiles, MissingFolderNamesTheFile) {
  const std::string what = [&] {
    try {
      seed::load_dataset((dir() / "nowhere").string());
    } catch (const seed::DataError& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  EXPECT_NE(what.find("nowhere/train-images-idx3-ubyte.gz: cannot open"), std::string::npos)
      << what;
}

// --- the program ------------------------------------------------------------------------------

rnnx::test::ProgramOutcome seed_classifier(const std::string& arguments, const fs::path& scratch) {
  return rnnx::test::run_program(std::string(SEED_CLASSIFIER_PATH) + " " + arguments, scratch);
}

TEST(SeedClassifierProgram, TrainsAndWritesTheEpochsAsJson) {
  const rnnx::test::ScratchDir scratch("rnnx_seed_classifier");
  const fs::path json = scratch.path() / "run.json";
  const auto outcome = seed_classifier("--data " + data_dir() + " --model gru --limit 640 " +
                                           "--epochs 2 --progress 2 --json " + json.string(),
                                       scratch.path());
  ASSERT_EQ(outcome.code, 0) << outcome.err;
  EXPECT_NE(outcome.out.find("epoch 1 step 2/5: loss "), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("epoch 2: train loss "), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("done: gru on cpu, 2 epochs: test accuracy "), std::string::npos)
      << outcome.out;

  const rnnx::io::Json run = rnnx::io::read_json_file(json.string());
  EXPECT_EQ(run.find("model")->as_string(), "gru");
  EXPECT_EQ(run.find("engine")->as_string(), "cpu");
  const auto& epochs = run.find("epochs")->as_array();
  ASSERT_EQ(epochs.size(), 2u);
  for (std::size_t k = 0; k < epochs.size(); ++k) {
    const rnnx::io::Json& e = epochs[k];
    EXPECT_EQ(e.find("epoch")->as_number(), double(k + 1));
    // Five steps: the training accuracy may still be chance, the test set shows learning.
    EXPECT_GT(e.find("train_accuracy")->as_number(), 0.0);
    EXPECT_LE(e.find("train_accuracy")->as_number(), 1.0);
    EXPECT_GT(e.find("test_accuracy")->as_number(), 0.15);
    EXPECT_LE(e.find("test_accuracy")->as_number(), 1.0);
    EXPECT_GT(e.find("train_loss")->as_number(), 0.0);
    EXPECT_LT(e.find("test_loss")->as_number(), std::log(10.0));  // below chance
    EXPECT_GT(e.find("seconds")->as_number(), 0.0);
    EXPECT_NEAR(e.find("samples_per_second")->as_number() * e.find("seconds")->as_number(), 640,
                6.4);
  }
  // The second epoch learns more: its training loss is lower.
  EXPECT_LT(epochs[1].find("train_loss")->as_number(), epochs[0].find("train_loss")->as_number());
}

// --json is rewritten after every epoch, each time replaced whole (io/output_files.h): a write
// error keeps the previous file, a kill during the second epoch's rename leaves the first's.
TEST(SeedClassifierProgram, TheJsonFileIsReplacedWholeOrNotAtAll) {
  const rnnx::test::ScratchDir scratch("rnnx_seed_classifier");
  const fs::path json = scratch.path() / "run.json";
  const std::string arguments =
      "--data " + data_dir() + " --model gru --limit 640 --epochs 2 " + "--json " + json.string();
  std::ofstream(json) << "old";
  const auto failed = rnnx::test::run_program(
      rnnx::test::with_faults("RNNX_FAULT_FAIL_FILE=1") + SEED_CLASSIFIER_PATH + " " + arguments,
      scratch.path());
  EXPECT_EQ(failed.code, 1) << failed.err;
  EXPECT_NE(failed.err.find("cannot write run.json: No space left on device"), std::string::npos)
      << failed.err;
  EXPECT_EQ(rnnx::test::leftover_files(scratch.path()), std::vector<std::string>());
  {
    std::ifstream in(json);
    std::string content;
    std::getline(in, content);
    EXPECT_EQ(content, "old");
  }

  const auto killed =
      rnnx::test::run_program(rnnx::test::with_faults("RNNX_FAULT_KILL_AT_RENAME=2") +
                                  SEED_CLASSIFIER_PATH + " " + arguments,
                              scratch.path());
  EXPECT_NE(killed.code, 0);
  const rnnx::io::Json run = rnnx::io::read_json_file(json.string());
  EXPECT_EQ(run.find("epochs")->as_array().size(), 1u) << "the first epoch's file, whole";
}

TEST(SeedClassifierProgram, BadArgumentsAreRefusedByName) {
  const rnnx::test::ScratchDir scratch("rnnx_seed_classifier");
  struct Case {
    std::string arguments, message;
    int code;
  };
  const Case cases[] = {
      {"--epochs 0", "--epochs takes an integer in [1, 1000], not '0'", 2},
      {"--lr 2", "--lr takes a number in (0, 1], not '2'", 2},
      {"--batch", "--batch: unknown option or missing value", 2},
      {"--colour blue", "--colour: unknown option", 2},
      {"--model lstmm", "seed model 'lstmm' is unknown", 1},
      {"--engine gpu_fast", "gpu_fast", 1},
      {"--data " + (scratch.path() / "none").string(),
       "none/train-images-idx3-ubyte.gz: cannot open", 1},
      {"--json " + (scratch.path() / "none" / "run.json").string(),
       "--json: " + (scratch.path() / "none").string() +
           ": cannot create a file there: No such file or directory",
       2},
  };
  for (const Case& c : cases) {
    const auto outcome = seed_classifier(c.arguments, scratch.path());
    EXPECT_EQ(outcome.code, c.code) << c.arguments;
    EXPECT_NE(outcome.err.find(c.message), std::string::npos) << c.arguments << ": " << outcome.err;
    EXPECT_EQ(outcome.out, "") << c.arguments;
  }
}

// --- training on Fashion-MNIST -----------------------------------------------------------------

struct TrainingRun {
  std::vector<double> batch_loss;  // mean loss of each step
  seed::Tally test;
};

// `passes` shuffled passes over the first 2,000 training images, batch 128.
TrainingRun train_a_little(rnnx::Engine engine, int passes, bool gpu) {
  const seed::Dataset data = seed::load_dataset(data_dir(), 2000);
  const rnnx::Model model =
      rnnx::seed_model("lstm", 28, 128, rnnx::DType::f32, rnnx::Layout::batch_major);
  seed::Hyper hyper;
  hyper.seed = 3;
  std::unique_ptr<seed::Trainer> trainer = gpu ? seed::make_gpu_trainer(model, engine, data, hyper)
                                               : seed::make_cpu_trainer(model, engine, data, hyper);
  std::mt19937_64 rng(hyper.seed);
  std::vector<int> order(data.train_images.count);
  TrainingRun run;
  for (int pass = 0; pass < passes; ++pass) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    trainer->begin_epoch(order);
    for (int first = 0; first < data.train_images.count; first += hyper.batch) {
      trainer->train_batch(first, std::min(hyper.batch, data.train_images.count - first));
      run.batch_loss.push_back(trainer->take_training_tally().mean_loss());
    }
  }
  run.test = trainer->evaluate();
  return run;
}

double mean(const std::vector<double>& v, std::size_t first, std::size_t n) {
  return std::accumulate(v.begin() + first, v.begin() + first + n, 0.0) / double(n);
}

void expect_learns(const TrainingRun& run) {
  ASSERT_EQ(run.batch_loss.size(), 32u);  // 2 passes of 16 batches
  // Chance is ln 10 = 2.30; the first steps start near it, the last ones well below.
  EXPECT_NEAR(run.batch_loss[0], std::log(10.0), 0.15);
  const double first = mean(run.batch_loss, 0, 4), last = mean(run.batch_loss, 28, 4);
  EXPECT_LT(last, 0.75 * first) << "first 4 steps " << first << ", last 4 " << last;
  EXPECT_EQ(run.test.count, 10000);
  EXPECT_GT(run.test.accuracy(), 0.45);  // 10% is chance
}

TEST(SeedClassifierTraining, LossFallsOnTheCpuEngine) {
  const TrainingRun run = train_a_little(rnnx::Engine::cpu, 2, false);
  expect_learns(run);
  RecordProperty("first_loss", std::to_string(run.batch_loss.front()));
  RecordProperty("last_loss", std::to_string(run.batch_loss.back()));
  RecordProperty("test_accuracy", std::to_string(run.test.accuracy()));
}

TEST(SeedClassifierTraining, GpuTrainersFollowTheCpuOne) {
  RNNX_GPU_TEST_OR_SKIP();
  const TrainingRun cpu = train_a_little(rnnx::Engine::cpu, 2, false);
  for (rnnx::Engine engine :
       {rnnx::Engine::gpu_dynamic, rnnx::Engine::gpu_static, rnnx::Engine::cudnn}) {
    SCOPED_TRACE(rnnx::to_string(engine));
    const TrainingRun run = train_a_little(engine, 2, true);
    expect_learns(run);
    // The same weights, images and order: the first step's loss agrees to float32 rounding, and
    // the end of training is close (rounding differences grow over the steps).
    EXPECT_NEAR(run.batch_loss[0], cpu.batch_loss[0], 1e-4);
    EXPECT_NEAR(run.test.accuracy(), cpu.test.accuracy(), 0.04);
  }
}

}  // namespace
