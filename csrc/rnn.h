// rnn.h — fused recurrent layers over a whole sequence: LSTM, GRU (reset_after) and
// SimpleRNN, forward and backprop through time. Keras weight layout.
//
//   x (B, T, I)   y (B, T, U) = the state h after each step   h0, c0 (B, U)
//   mask (B, T) uint8 or nullptr: where 0, the step is skipped and the states carry through.
//   rmask (B, U) of the kernel's dtype T, or nullptr: recurrent (variational) dropout mask. It
//          multiplies h_prev where h_prev enters the recurrent GEMM only (h_prev * rmask) R, the
//          same mask at every step; the GRU blend z * h_prev uses the undropped h_prev.
//   LSTM:  W (I, 4U), R (U, 4U), bias (4U), gates i, f, c, o;
//          saved: gates (B, T, 4U) activated, cseq (B, T, U) cell states.
//   GRU:   W (I, 3U), R (U, 3U), bias (2, 3U) = [input bias; recurrent bias], gates z, r, h,
//          h = z * h_prev + (1 - z) * tanh(xW_h + b_ih + r * (h_prev R_h + b_rh));
//          saved: gates (B, T, 3U) activated z, r, hh and hrec (B, T, U) = h_prev R_h + b_rh.
//   SimpleRNN: W (I, U), R (U, U), bias (U), h = act(x W + h_prev R + b).
//   Activations (RnnShape::act, ::ract): `act` is the LSTM's cell input and output activation
//          (c = f c_prev + i act(z_c), h = o act(c)), the GRU's candidate activation (tanh above) and
//          the SimpleRNN's activation; `ract` is the gate activation (LSTM i, f, o; GRU z, r;
//          sigmoid above). Every derivative is taken from the saved activated value y:
//          tanh 1 - y^2, sigmoid y (1 - y), relu [y > 0], linear 1,
//          hard_sigmoid y = min(max(x + 3, 0), 6) / 6 (Keras 3), 1/6 where 0 < y < 1 else 0.
//          The default pair (tanh, sigmoid) runs the original fused code (AVX2 float routines).
//
// Forward: one GEMM for the input projection of all steps, then per step one GEMM on the
// state plus the fused gate nonlinearities. Backward: per step the fused gate derivative
// and one GEMM for d h_prev (times rmask); at the end one GEMM each for dW, dR (over all steps,
// with h_prev * rmask) and dx.
// Backward kernels overwrite every gradient output.
#pragma once
#include <cstdint>

namespace ember {

enum class RnnAct : uint8_t { Tanh = 0, Sigmoid = 1, Relu = 2, Linear = 3, HardSigmoid = 4 };

struct RnnShape {
  int64_t B, T, I, U;
  const uint8_t* mask;
  const void* rmask;  // const T* (B, U) or nullptr, see above
  RnnAct act = RnnAct::Tanh;      // cell / candidate / SimpleRNN activation
  RnnAct ract = RnnAct::Sigmoid;  // gate activation (LSTM, GRU)
};

template <typename T>
void lstm_forward(T* y, T* cseq, T* gates, const T* x, const T* W, const T* R, const T* bias, const T* h0,
                  const T* c0, const RnnShape& s);
template <typename T>
void lstm_backward(T* dx, T* dW, T* dR, T* dbias, T* dh0, T* dc0, const T* dy, const T* dhT, const T* dcT,
                   const T* x, const T* W, const T* R, const T* h0, const T* c0, const T* y, const T* cseq,
                   const T* gates, const RnnShape& s);

template <typename T>
void gru_forward(T* y, T* gates, T* hrec, const T* x, const T* W, const T* R, const T* bias, const T* h0,
                 const RnnShape& s);
template <typename T>
void gru_backward(T* dx, T* dW, T* dR, T* dbias, T* dh0, const T* dy, const T* dhT, const T* x, const T* W,
                  const T* R, const T* h0, const T* y, const T* gates, const T* hrec, const RnnShape& s);

template <typename T>
void simple_rnn_forward(T* y, const T* x, const T* W, const T* R, const T* bias, const T* h0, const RnnShape& s);
template <typename T>
void simple_rnn_backward(T* dx, T* dW, T* dR, T* dbias, T* dh0, const T* dy, const T* dhT, const T* x,
                         const T* W, const T* R, const T* h0, const T* y, const RnnShape& s);

}  // namespace ember
