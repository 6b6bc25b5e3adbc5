/// What a layer's backward pass reads besides its output gradient.
public struct BackwardReads: OptionSet, Sendable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }

  public static let input = BackwardReads(rawValue: 1)
  public static let output = BackwardReads(rawValue: 2)
}

/// A transient buffer a layer needs besides its input and output.
public struct ScratchRequest: Sendable {
  /// The steps a scratch buffer must live through, from which the planner decides its reuse.
  public enum Lifetime: Sendable {
    /// Only during the forward step (e.g. im2col columns).
    case forward
    /// Only during the backward step (training only).
    case backward
    /// Written forward, read backward (max-pool argmax, dropout mask); forward-only in inference.
    case forwardToBackward
  }

  /// Unique within the layer: kernels find the buffer by it, and the plan shows it.
  public var name: ScratchKey
  /// Number of 4-byte elements (floats or 32-bit indices); nil when it overflows.
  public var elements: Int?
  public var lifetime: Lifetime
  /// Needed only to compute an input gradient; left out when no input wants one.
  public var forInputGradient = false
  /// One of `elements` for each thread a kernel splits its work across (LayerBinding.threads).
  public var perThread = false
}

/// A scratch buffer's name, declared once below and used both where a layer requests the
/// buffer and where its kernels find it, so that the two cannot disagree (a misspelt name does
/// not compile); plans show it.
public struct ScratchKey: Hashable, Sendable, CustomStringConvertible {
  public let description: String

  private init(_ name: String) { description = name }

  // Convolution and dense layers: GEMM packing, the convolution's lowerings.
  static let forwardPacking = ScratchKey("forward packing")
  static let backwardPacking = ScratchKey("backward packing")
  static let forwardWeights = ScratchKey("packed weights")
  static let backwardWeights = ScratchKey("packed weights transposed")
  static let backwardColumns = ScratchKey("columns")
  static let columnGradient = ScratchKey("column gradient")
  static let winogradWorkspace = ScratchKey("winograd workspace")
  static let winogradWeights = ScratchKey("winograd weights")
  static let foldedWeights = ScratchKey("batchnorm-folded weights")
  static let foldedBias = ScratchKey("batchnorm-folded bias")
  static let turnedWeights = ScratchKey("weights turned for the input gradient")
  static let inputGradientWeights = ScratchKey("winograd input-gradient weights")
  static let inputGradientWorkspace = ScratchKey("winograd input-gradient workspace")
  static let paddedImage = ScratchKey("padded image")
  static let weightGradientPacking = ScratchKey("weight-gradient packing")
  static let depthwisePadded = ScratchKey("depthwise padded plane")
  static let depthwiseBackward = ScratchKey("depthwise backward workspace")
  // Max pooling's winners, dropout's mask, batchnorm's batch statistics: forward to backward.
  static let argmax = ScratchKey("argmax")
  static let dropoutMask = ScratchKey("mask")
  static let statistics = ScratchKey("statistics")
}

/// A layer's operands once a plan has placed them: pointers into the arena and the parameters.
/// Every pointer stays valid for the executor's lifetime; kernels capture the binding.
public struct LayerBinding {
  /// The instruction-set path the plan chose for its kernels.
  public var isa: KernelISA
  /// Threads a forward kernel may split one image's work across (1 but at batch 1 inference).
  public var threads: Int
  /// The helpers that run those splits beside the calling thread (nil: none).
  var team: KernelTeam?
  public var batch: Int
  public var inputShapes: [Shape]
  public var outputShape: Shape
  /// Each input, (batch, c, h, w).
  public var inputs: [UnsafeMutablePointer<Float>]
  public var output: UnsafeMutablePointer<Float>
  /// Training only: the gradient of the loss with respect to the output.
  public var outputGradient: UnsafeMutablePointer<Float>?
  /// Per input: where its gradient goes, or nil when nothing needs it.
  public var inputGradients: [UnsafeMutablePointer<Float>?]
  /// Per input: add to the gradient (another consumer wrote it first) instead of overwriting.
  public var accumulate: [Bool]
  /// By request name; nil (or absent) when the mode does not allocate it.
  public var scratch: [ScratchKey: UnsafeMutableRawPointer?]
  /// In the order of `parameters(for:)`.
  public var parameters: [UnsafeMutablePointer<Float>]
  public var parameterGradients: [UnsafeMutablePointer<Float>]
  /// This executor owns the weights and alone updates state tensors (batchnorm's running
  /// statistics); data-parallel workers sharing them leave the state alone.
  public var updatesState: Bool
  /// Shared random state (dropout masks).
  public var random: UnsafeMutablePointer<SplitMix64>
  /// A convolution's folded batchnorm's tensors (weight, bias, running mean and variance), in
  /// an inference plan that folds one into it (`BatchNormFolding`); empty otherwise.
  public var foldedParameters: [UnsafeMutablePointer<Float>] = []

  var inputCount: Int { inputShapes[0].elementCount ?? 0 }

  /// The output gradient of a backward step; the planner binds one to every backward step.
  var requiredOutputGradient: UnsafeMutablePointer<Float> {
    guard let outputGradient else { preconditionFailure("a backward step without its gradient") }
    return outputGradient
  }

  /// Scratch buffer `name` as `T`, which the planner allocates for every step that asks.
  func requiredScratch<T>(_ name: ScratchKey, as type: T.Type) -> UnsafeMutablePointer<T> {
    guard case let pointer?? = scratch[name] else {
      preconditionFailure("scratch '\(name)' not allocated")
    }
    return pointer.assumingMemoryBound(to: T.self)
  }
  var outputCount: Int { outputShape.elementCount ?? 0 }

  /// Scratch buffer `name` as floats, or nil when the plan did not allocate it.
  func optionalScratch(_ name: ScratchKey) -> UnsafeMutablePointer<Float>? {
    guard case let pointer?? = scratch[name] else { return nil }
    return pointer.assumingMemoryBound(to: Float.self)
  }
}

/// A step's work, ready to run: it allocates nothing when called.
public typealias Kernel = () -> Void

/// How a layer lowers to kernels. Defaults fit a layer with no scratch whose backward reads
/// only its output gradient.
public protocol LayerLowering {
  /// What the backward pass reads, so the planner keeps it alive until then.
  var backwardReads: BackwardReads { get }
  /// Its output may be written over its input (element-wise, backward reads at most the output);
  /// the planner does so when nothing reads the input afterwards.
  var mayRunInPlace: Bool { get }
  /// A view reuses its input's buffer and needs no step (flatten; dropout at inference).
  func isView(training: Bool) -> Bool
  /// Which input a view's output is (0, or the input an add fused into a convolution reads
  /// from that convolution).
  var viewedInput: Int { get }
  /// The scratch buffers its kernels need; `training` says whether the plan trains (a layer may
  /// compute its forward pass another way for inference).
  func scratch(batch: Int, inputs: [Shape], output: Shape, training: Bool) -> [ScratchRequest]
  /// Why a training plan of `batch` samples per executor cannot run this layer, or nil.
  func trainingProblem(batch: Int, inputs: [Shape]) -> String?
  func forwardKernel(_ binding: LayerBinding, training: Bool) -> Kernel
  /// Computes the parameter gradients (overwriting) and the input gradients that are wanted.
  func backwardKernel(_ binding: LayerBinding) -> Kernel
  /// How its kernels compute, where the plan chooses among lowerings (e.g. "by GEMM"), shown
  /// after each step's name; nil where there is one way. `inputGradient`: whether a training
  /// plan's backward step computes the input's gradient.
  func loweringNames(
    batch: Int, inputs: [Shape], output: Shape, training: Bool, inputGradient: Bool
  ) -> (forward: String, backward: String)?
}

extension LayerLowering {
  public var backwardReads: BackwardReads { [] }
  public var mayRunInPlace: Bool { false }
  public func isView(training: Bool) -> Bool { false }
  public var viewedInput: Int { 0 }
  public func scratch(batch: Int, inputs: [Shape], output: Shape, training: Bool)
    -> [ScratchRequest]
  { [] }
  public func trainingProblem(batch: Int, inputs: [Shape]) -> String? { nil }
  public func loweringNames(
    batch: Int, inputs: [Shape], output: Shape, training: Bool, inputGradient: Bool
  ) -> (forward: String, backward: String)? { nil }
}
