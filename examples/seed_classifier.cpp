// seed_classifier: the seed notebook's job on rnnx. Trains one of its 14 RNN classifiers on
// Fashion-MNIST (or MNIST) read row by row: 28 steps of 28 pixels, the last output through a
// dense layer into softmax cross-entropy, Adam. Run with --help for the options.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/output_files.h"
#include "seed_models.h"
#include "trainer.h"

namespace {

const char* const kUsage =
    "usage: seed_classifier [options]\n"
    "  --model NAME     a seed model: lstm, gru, multi_lstm, multi_gru, mix, bi_lstm,\n"
    "                   multi_bi_lstm, or a notebook function such as multi_layer_dynamic_mix\n"
    "                   (default lstm)\n"
    "  --engine NAME    an rnnx engine that trains: auto (default: a GPU engine when there is a\n"
    "                   GPU, else cpu), cpu, cpu_reference, gpu_dynamic, gpu_static, cudnn\n"
    "  --data DIR       folder of MNIST-format files "
    "{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz\n"
    "                   (default /usr/share/datasets/fashion-mnist)\n"
    "  --epochs N       passes over the training set (default 1)\n"
    "  --limit N        use only the first N training images (default: all)\n"
    "  --batch N        images per step (default 128)\n"
    "  --lr X           Adam's learning rate (default 0.001; the seed notebook used 0.0001)\n"
    "  --hidden N       hidden size of the seed's layers (default 128)\n"
    "  --seed N         weights and shuffling (default 1)\n"
    "  --progress N     a progress line every N steps, 0 for none (default 100)\n"
    "  --json FILE      write the per-epoch figures to FILE\n";

struct Options {
  std::string model = "lstm", engine = "auto", data = "/usr/share/datasets/fashion-mnist", json;
  int epochs = 1, limit = 0, hidden = 128, progress = 100;
  seed::Hyper hyper;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

long parse_integer(const std::string& flag, const std::string& text, long lo, long hi) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < lo || v > hi) {
    throw UsageError(flag + " takes an integer in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], not '" + text + "'");
  }
  return v;
}

double parse_rate(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v > 0 && v <= 1)) {
    throw UsageError(flag + " takes a number in (0, 1], not '" + text + "'");
  }
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int k = 1; k < argc; ++k) {
    const std::string flag = argv[k];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (k + 1 >= argc) throw UsageError(flag + ": unknown option or missing value");
    const std::string value = argv[++k];
    if (flag == "--model")
      o.model = value;
    else if (flag == "--engine")
      o.engine = value;
    else if (flag == "--data")
      o.data = value;
    else if (flag == "--json")
      o.json = value;
    else if (flag == "--epochs")
      o.epochs = int(parse_integer(flag, value, 1, 1000));
    else if (flag == "--limit")
      o.limit = int(parse_integer(flag, value, 1, 1 << 24));
    else if (flag == "--batch")
      o.hyper.batch = int(parse_integer(flag, value, 1, 4096));
    else if (flag == "--hidden")
      o.hidden = int(parse_integer(flag, value, 1, 4096));
    else if (flag == "--progress")
      o.progress = int(parse_integer(flag, value, 0, 1 << 24));
    else if (flag == "--seed")
      o.hyper.seed = std::uint64_t(parse_integer(flag, value, 0, 1L << 62));
    else if (flag == "--lr")
      o.hyper.lr = parse_rate(flag, value);
    else
      throw UsageError(flag + ": unknown option");
  }
  return o;
}

struct EpochFigures {
  int epoch;
  seed::Tally train, test;
  double seconds, samples_per_second;
};

void write_json(const std::string& path, const Options& o, rnnx::Engine engine,
                const std::vector<EpochFigures>& epochs) {
  std::ostringstream out;
  char line[512];
  // Names are identifiers (checked by rnnx), so they need no JSON escaping.
  out << "{\"model\": \"" << o.model << "\", \"engine\": \"" << rnnx::to_string(engine)
      << "\", \"data\": \"" << o.data << "\", \"batch\": " << o.hyper.batch
      << ", \"learning_rate\": " << o.hyper.lr << ", \"seed\": " << o.hyper.seed
      << ", \"epochs\": [";
  for (std::size_t k = 0; k < epochs.size(); ++k) {
    const EpochFigures& e = epochs[k];
    std::snprintf(line, sizeof line,
                  "%s\n  {\"epoch\": %d, \"train_loss\": %.6f, \"train_accuracy\": %.6f, "
                  "\"test_loss\": %.6f, \"test_accuracy\": %.6f, \"seconds\": %.3f, "
                  "\"samples_per_second\": %.1f}",
                  k ? "," : "", e.epoch, e.train.mean_loss(), e.train.accuracy(),
                  e.test.mean_loss(), e.test.accuracy(), e.seconds, e.samples_per_second);
    out << line;
  }
  out << "\n]}\n";
  // Rewritten after every epoch: replaced whole, so a reader or a kill never sees half a file.
  rnnx::io::replace_file(path, out.str());
}

// Any character outside [A-Za-z0-9_./-] in --data would need escaping in the JSON; refuse it
// there rather than write a broken file.
void check_json_safe(const Options& o) {
  for (char c : o.data) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' ||
          c == '-')) {
      throw UsageError("--json: the --data path '" + o.data +
                       "' has characters this program does not escape; use a plainer path");
    }
  }
}

rnnx::Engine choose_engine(const Options& o, const rnnx::Model& model) {
  const rnnx::Engine asked = rnnx::parse_engine(o.engine);
  if (asked != rnnx::Engine::automatic) return asked;
  // rnnx's own choice for a plan that trains: cudnn, gpu_dynamic, then cpu.
  return rnnx::Rnn(model, rnnx::Engine::automatic).engine();
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int run(const Options& o) {
  // Names first: a typo should not wait for the data to load.
  rnnx::parse_engine(o.engine);
  rnnx::seed_model(o.model);
  const seed::Dataset data = seed::load_dataset(o.data, o.limit);
  const rnnx::Model model = rnnx::seed_model(o.model, data.train_images.cols, o.hidden,
                                             rnnx::DType::f32, rnnx::Layout::batch_major);
  const rnnx::Engine engine = choose_engine(o, model);
  std::unique_ptr<seed::Trainer> trainer =
      rnnx::is_gpu(engine) ? seed::make_gpu_trainer(model, engine, data, o.hyper)
                           : seed::make_cpu_trainer(model, engine, data, o.hyper);
  const int n = data.train_images.count, batch = o.hyper.batch;
  const int steps = (n + batch - 1) / batch;
  std::printf(
      "seed_classifier: %s (%s) on %s; %d training and %d test images of %dx%d from %s; "
      "batch %d, Adam lr %g, seed %llu\n",
      o.model.c_str(), rnnx::describe(model).c_str(), rnnx::to_string(engine), n,
      data.test_images.count, data.train_images.rows, data.train_images.cols, o.data.c_str(), batch,
      o.hyper.lr, static_cast<unsigned long long>(o.hyper.seed));
  std::fflush(stdout);

  std::mt19937_64 rng(o.hyper.seed);
  std::vector<int> order(n);
  std::vector<EpochFigures> figures;
  double total_seconds = 0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    for (int k = 0; k < n; ++k) order[k] = k;
    std::shuffle(order.begin(), order.end(), rng);
    const Clock::time_point t0 = Clock::now();
    trainer->begin_epoch(order);
    seed::Tally epoch_tally;
    for (int step = 0; step < steps; ++step) {
      const int first = step * batch;
      trainer->train_batch(first, std::min(batch, n - first));
      if (o.progress > 0 && (step + 1) % o.progress == 0 && step + 1 < steps) {
        const seed::Tally recent = trainer->take_training_tally();
        epoch_tally.add(recent);
        std::printf(
            "  epoch %d step %d/%d: loss %.4f, accuracy %.4f (last %d steps), %.0f samples/s\n",
            epoch, step + 1, steps, recent.mean_loss(), recent.accuracy(), o.progress,
            double(epoch_tally.count) / since(t0));
        std::fflush(stdout);
      }
    }
    epoch_tally.add(trainer->take_training_tally());  // waits for the device
    const double seconds = since(t0);
    total_seconds += seconds;
    const Clock::time_point t1 = Clock::now();
    const seed::Tally test = trainer->evaluate();
    const double test_seconds = since(t1);
    figures.push_back({epoch, epoch_tally, test, seconds, n / seconds});
    std::printf(
        "epoch %d: train loss %.4f accuracy %.4f | test loss %.4f accuracy %.4f | "
        "%.1f s training (%.0f samples/s), %.1f s testing\n",
        epoch, epoch_tally.mean_loss(), epoch_tally.accuracy(), test.mean_loss(), test.accuracy(),
        seconds, n / seconds, test_seconds);
    std::fflush(stdout);
    if (!o.json.empty()) write_json(o.json, o, engine, figures);
  }
  const EpochFigures& last = figures.back();
  std::printf(
      "done: %s on %s, %d epoch%s: test accuracy %.4f (loss %.4f), %.1f s training, "
      "%.0f samples/s\n",
      o.model.c_str(), rnnx::to_string(engine), o.epochs, o.epochs == 1 ? "" : "s",
      last.test.accuracy(), last.test.mean_loss(), total_seconds,
      double(n) * o.epochs / total_seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    if (!o.json.empty()) {
      check_json_safe(o);
      // Found out now rather than after the first epoch: the --json folder takes files.
      try {
        rnnx::io::check_writable(rnnx::io::folder_of(o.json));
      } catch (const rnnx::Error& e) {
        throw UsageError(std::string("--json: ") + e.what());
      }
    }
    return run(o);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "seed_classifier: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "seed_classifier: %s\n", e.what());
    return 1;
  }
}
