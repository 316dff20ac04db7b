// A library that tests/support/fake_gpu_module.cpp's "needs_missing" variant links and that no
// run path leads to: loading that module fails as a real one without libcudnn.so.9 would.
int rnnx_test_missing_dependency() {
  return 7;
}
