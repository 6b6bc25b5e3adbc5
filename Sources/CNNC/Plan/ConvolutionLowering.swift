/// How a plan computes its convolutions: `train: {lowering: …}` in a spec, `--lowering` on the
/// command line.
public enum ConvolutionLowering: String, Sendable, CaseIterable {
  /// Each layer by the fastest lowering cnnc has for its shape: Winograd (below) for the
  /// forward pass and, in training, for the input gradient of the stride-1 3×3 and 5×5 windows
  /// it suits, and the weight gradient directly from the images for stride-1 layers with wide
  /// rows (`ConvolutionBackward.swift`); implicit GEMM forward and im2col + GEMM backward for
  /// the rest.
  case auto
  /// Every convolution by implicit GEMM forward and im2col/col2im + GEMM backward: the training
  /// numerics of cnnc before Winograd was allowed in training, for reproducing earlier results.
  case gemm
}
