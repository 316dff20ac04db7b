// rnnx: LSTM and GRU layers on interchangeable CPU and GPU engines. Include this header.
#pragma once

#include "rnnx/buffer.h"
#include "rnnx/engine_options.h"
#include "rnnx/error.h"
#include "rnnx/half.h"
#include "rnnx/info.h"
#include "rnnx/interop.h"
#include "rnnx/layout.h"
#include "rnnx/model.h"
#include "rnnx/rnn.h"
#include "rnnx/version.h"
