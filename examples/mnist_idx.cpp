#include "mnist_idx.h"

#include <zlib.h>

#include <cstdio>
#include <memory>

namespace seed {

namespace {

// The whole decompressed file.
std::vector<unsigned char> read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw DataError(path + ": cannot open");
  const std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(file, gzclose);
  std::vector<unsigned char> bytes;
  unsigned char chunk[1 << 16];
  for (;;) {
    const int n = gzread(file, chunk, sizeof chunk);
    if (n < 0) {
      int code = 0;
      throw DataError(path + ": not a readable gzip file (" + gzerror(file, &code) + ")");
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  return bytes;
}

std::uint32_t big_endian(const std::vector<unsigned char>& b, std::size_t at) {
  return (std::uint32_t(b[at]) << 24) | (std::uint32_t(b[at + 1]) << 16) |
         (std::uint32_t(b[at + 2]) << 8) | std::uint32_t(b[at + 3]);
}

void check_header(const std::string& path, const std::vector<unsigned char>& b, std::uint32_t magic,
                  std::size_t header, const char* what) {
  if (b.size() < header) {
    throw DataError(path + ": truncated: " + std::to_string(b.size()) + " bytes, an IDX " + what +
                    " header needs " + std::to_string(header));
  }
  const std::uint32_t found = big_endian(b, 0);
  if (found != magic) {
    char text[64];
    std::snprintf(text, sizeof text, "wrong magic number 0x%08x (IDX %s: 0x%08x)", found, what,
                  magic);
    throw DataError(path + ": " + text);
  }
}

}  // namespace

Images read_images(const std::string& path) {
  const std::vector<unsigned char> b = read_gzip(path);
  check_header(path, b, 0x00000803u, 16, "images");
  Images images;
  const std::uint32_t count = big_endian(b, 4), rows = big_endian(b, 8), cols = big_endian(b, 12);
  if (count == 0 || count > (1u << 24) || rows == 0 || rows > 4096 || cols == 0 || cols > 4096) {
    throw DataError(path + ": implausible sizes " + std::to_string(count) + " x " +
                    std::to_string(rows) + " x " + std::to_string(cols));
  }
  const std::size_t need = 16 + std::size_t(count) * rows * cols;
  if (b.size() != need) {
    throw DataError(path + ": " + (b.size() < need ? "truncated" : "trailing bytes") + ": " +
                    std::to_string(count) + " images of " + std::to_string(rows) + "x" +
                    std::to_string(cols) + " need " + std::to_string(need) +
                    " bytes, the file has " + std::to_string(b.size()));
  }
  images.count = static_cast<int>(count);
  images.rows = static_cast<int>(rows);
  images.cols = static_cast<int>(cols);
  images.pixels.resize(need - 16);
  for (std::size_t k = 16; k < need; ++k) images.pixels[k - 16] = b[k] / 255.0f;
  return images;
}

std::vector<int> read_labels(const std::string& path) {
  const std::vector<unsigned char> b = read_gzip(path);
  check_header(path, b, 0x00000801u, 8, "labels");
  const std::uint32_t count = big_endian(b, 4);
  if (b.size() != 8 + std::size_t(count)) {
    throw DataError(path + ": " +
                    (b.size() < 8 + std::size_t(count) ? "truncated" : "trailing bytes") + ": " +
                    std::to_string(count) + " labels need " + std::to_string(8 + count) +
                    " bytes, the file has " + std::to_string(b.size()));
  }
  std::vector<int> labels(b.begin() + 8, b.end());
  for (std::size_t k = 0; k < labels.size(); ++k) {
    if (labels[k] > 9) {
      throw DataError(path + ": label " + std::to_string(k) + " is " + std::to_string(labels[k]) +
                      ", not a class in 0..9");
    }
  }
  return labels;
}

Dataset load_dataset(const std::string& dir, int limit) {
  Dataset d;
  const std::string base = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  d.train_images = read_images(base + "train-images-idx3-ubyte.gz");
  d.train_labels = read_labels(base + "train-labels-idx1-ubyte.gz");
  d.test_images = read_images(base + "t10k-images-idx3-ubyte.gz");
  d.test_labels = read_labels(base + "t10k-labels-idx1-ubyte.gz");
  auto match = [&](const Images& images, const std::vector<int>& labels, const char* which) {
    if (static_cast<int>(labels.size()) != images.count) {
      throw DataError(base + which + "-labels-idx1-ubyte.gz: " + std::to_string(labels.size()) +
                      " labels for the " + std::to_string(images.count) + " images of " + base +
                      which + "-images-idx3-ubyte.gz");
    }
  };
  match(d.train_images, d.train_labels, "train");
  match(d.test_images, d.test_labels, "t10k");
  if (d.test_images.rows != d.train_images.rows || d.test_images.cols != d.train_images.cols) {
    throw DataError(base + "t10k-images-idx3-ubyte.gz: images of " +
                    std::to_string(d.test_images.rows) + "x" + std::to_string(d.test_images.cols) +
                    ", the training images are " + std::to_string(d.train_images.rows) + "x" +
                    std::to_string(d.train_images.cols));
  }
  if (limit > 0 && limit < d.train_images.count) {
    const std::size_t per = std::size_t(d.train_images.rows) * d.train_images.cols;
    d.train_images.count = limit;
    d.train_images.pixels.resize(per * limit);
    d.train_labels.resize(limit);
  }
  return d;
}

}  // namespace seed
