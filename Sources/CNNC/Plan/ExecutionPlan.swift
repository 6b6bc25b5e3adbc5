/// Inference runs forward only; training also keeps what backward needs and runs it.
public enum PlanMode: String, Sendable, CaseIterable {
  case inference
  case training
}

/// Where training's backward pass starts.
public enum LossKind: Sendable {
  /// Mean softmax cross-entropy against integer labels; a final softmax layer is folded in.
  case softmaxCrossEntropy
  /// The caller writes the gradient of the final output (gradient checks, custom losses).
  case outputGradient
}

/// What a plan is for: its mode and batch, the loss, and the kernel path and threads.
public struct PlanOptions: Sendable {
  public var mode: PlanMode
  public var batch: Int
  public var loss: LossKind
  /// Also compute the gradient with respect to the network's input (training only).
  public var inputGradient: Bool
  /// The kernels' instruction-set path; nil: `CNNC_ISA` if set, else the CPU's best.
  public var isa: KernelISA?
  /// Threads that one image's convolution and dense layers are split across, in an inference
  /// plan at batch 1 (latency); larger batches are split by sample, across executors.
  public var imageThreads: Int
  /// Inference only: fold each batchnorm that follows a convolution into it (`BatchNormFolding`).
  public var foldsBatchNorm: Bool
  /// Which convolution lowerings the plan may choose.
  public var lowering: ConvolutionLowering
  /// Fuse a ReLU into the batchnorm or add before it (`ReLUFusion`).
  public var fusesReLU: Bool

  public init(
    mode: PlanMode, batch: Int, loss: LossKind = .softmaxCrossEntropy, inputGradient: Bool = false,
    isa: KernelISA? = nil, imageThreads: Int = 1, foldsBatchNorm: Bool = true,
    lowering: ConvolutionLowering = .auto, fusesReLU: Bool = true
  ) {
    self.mode = mode
    self.batch = batch
    self.loss = loss
    self.inputGradient = inputGradient
    self.isa = isa
    self.imageThreads = imageThreads
    self.foldsBatchNorm = foldsBatchNorm
    self.lowering = lowering
    self.fusesReLU = fusesReLU
  }

  /// The threads each kernel splits its work across: `imageThreads` where it applies, else 1.
  var kernelThreads: Int { mode == .inference && batch == 1 ? max(1, imageThreads) : 1 }
}

/// One transient buffer of a plan and its place in the arena.
public struct PlanBuffer: Sendable {
  /// What the buffer holds, as `cnnc check --plan` shows it.
  public enum Kind: String, Sendable {
    case input, labels, activation, gradient, scratch
  }

  public var name: String
  public var kind: Kind
  /// Rounded up to the arena's alignment.
  public var bytes: Int
  public var firstStep: Int
  public var lastStep: Int
  public var offset: Int

  public var record: BufferRecord {
    BufferRecord(bytes: bytes, firstStep: firstStep, lastStep: lastStep)
  }
}

/// One kernel call: which layer, which phase, and the buffers it reads and writes.
public struct PlanStep: Sendable {
  /// Forward steps come first in layer order, then the loss, then backward in reverse.
  public enum Phase: String, Sendable {
    case forward, loss, backward
  }

  public var phase: Phase
  /// Nil for the loss step.
  public var layer: Int?
  /// What runs, e.g. "conv forward".
  public var kernel: String
  public var reads: [Int]
  public var writes: [Int]
}

/// The operands of one layer, as buffer ids.
struct LayerOperands: Sendable {
  var inputs: [Int]
  var output: Int
  var outputGradient: Int?
  var inputGradients: [Int?]
  var accumulate: [Bool]
  /// Each scratch request's buffer, nil where the mode needs none, and its name.
  var scratch: [Int?]
  var scratchNames: [ScratchKey]
}

/// A network lowered to an ordered list of kernel calls over one arena, every offset decided
/// before anything runs.
public struct ExecutionPlan: Sendable {
  public var network: InferredNetwork
  public var options: PlanOptions
  /// The instruction-set path every kernel of this plan runs, chosen when it was made.
  public var isa: KernelISA
  public var steps: [PlanStep]
  public var buffers: [PlanBuffer]
  public var parameters: [ParameterSlot]
  /// The arena this plan needs.
  public var arenaBytes: Int
  /// What the buffers would need with no reuse at all.
  public var naiveBytes: Int
  /// The most bytes alive at any one step.
  public var lowerBoundBytes: Int
  /// Floats of parameter storage (in training, gradients take as much again, and so does each
  /// block of the optimizer's state: one for SGD's momentum, two for Adam).
  public var parameterFloats: Int

  public var inputBuffer: Int
  public var outputBuffer: Int
  public var labelsBuffer: Int?
  /// Where the loss (or the caller) writes the gradient that backward starts from.
  public var lossGradientBuffer: Int?
  /// Each batchnorm folded into a convolution (inference): its layer index → the convolution's.
  public var foldedBatchNorms: [Int: Int]
  /// Each ReLU fused into the layer before it: its index → that layer's (`ReLUFusion`).
  public var fusedReLUs: [Int: Int]
  /// Each add fused into a convolution of its inputs: its index → the convolution's
  /// (`ResidualFusion`).
  public var fusedAdds: [Int: Int]
  /// Each layer as the plan lowers it (a folded batchnorm, a convolution with its lowering).
  var layerKinds: [any Layer]
  var operands: [LayerOperands?]

  /// How each convolution runs, from the plan's own steps, e.g. "conv2: forward by Winograd,
  /// backward dW batch GEMM, dX Winograd", joined by "; " (a checkpoint's `lowerings` metadata).
  public var loweringSummary: String {
    var parts: [Int: [String]] = [:]
    for step in steps {
      guard let index = step.layer, layerKinds[index] is Convolution else { continue }
      let prefix = "conv \(step.phase.rawValue) "
      let lowering = step.kernel.hasPrefix(prefix) ? step.kernel.dropFirst(prefix.count) : ""
      parts[index, default: []].append("\(step.phase.rawValue) \(lowering)")
    }
    return parts.keys.sorted().map { index in
      "\(network.layers[index].spec.name): \(parts[index]!.joined(separator: ", "))"
    }.joined(separator: "; ")
  }
}
