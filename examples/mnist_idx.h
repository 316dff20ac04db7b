// MNIST-format (IDX) files, gzip-compressed as the datasets ship them: Fashion-MNIST from Debian's
// dataset-fashion-mnist, or the original MNIST.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace seed {

// A bad, truncated or inconsistent file; the message names the file and what is wrong.
struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Images {
  int count = 0, rows = 0, cols = 0;
  std::vector<float> pixels;  // count x rows x cols, scaled to [0, 1]
};

Images read_images(const std::string& path);            // IDX3, magic 0x00000803
std::vector<int> read_labels(const std::string& path);  // IDX1, magic 0x00000801

struct Dataset {
  Images train_images, test_images;
  std::vector<int> train_labels, test_labels;
};

// {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from `dir`; `limit` > 0 keeps the first
// `limit` training images. Labels must be 0..9 and as many as the images.
Dataset load_dataset(const std::string& dir, int limit = 0);

}  // namespace seed
