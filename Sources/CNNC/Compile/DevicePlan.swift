/// Why a network could not be compiled to C.
public struct CompileError: Error, CustomStringConvertible, Sendable {
  public var message: String
  public var description: String { message }

  public init(_ message: String) { self.message = message }
}

/// A trained network planned for one image at a time on a device (`cnnc compile`): its steps in
/// order, fused where that saves a buffer or a pass, and every buffer's place in one arena.
///
/// The memory is planned for plain loops, not for cnnc's CPU kernels: no packing panels and no
/// im2col columns. Each layer's output is a buffer except where the plan proves it needless:
/// - flatten and inference dropout are views of their input;
/// - a batchnorm after a convolution that nothing else reads is folded into its weights and
///   bias, as the executor's inference plans do (`BatchNormFolding`, the same arithmetic);
/// - an activation after a convolution or dense layer that nothing else reads is applied as
///   that layer stores its values;
/// - a pooling after such a convolution is computed from a ring of the convolution's rows, one
///   filter at a time, so that the convolution's whole output never exists (TinyEngine's patch
///   idea for cnnc's layers);
/// - activations, an unfolded batchnorm, an add, a softmax, a global average and pooling whose
///   windows allow it overwrite an input that nothing reads later.
/// The buffers' lifetimes then go to `ArenaPlanner`, the same placement the executor's plans use.
public struct DevicePlan: Sendable {
  /// What a step computes.
  public enum Operation: Sendable {
    /// The window is over all the input's channels. `activation` is applied to each stored
    /// value; with `pooling`, the step's output is the pooling's.
    case convolution(
      WindowGeometry, filters: Int, groups: Int, activation: Activation.Function?,
      pooling: FusedPooling?)
    case pooling(Pooling.Kind, WindowGeometry)
    case globalAveragePooling(channels: Int, plane: Int)
    case dense(inputs: Int, units: Int, activation: Activation.Function?)
    /// A batchnorm that could not be folded: x·scale + shift per channel.
    case affine(channels: Int, plane: Int)
    case activation(Activation.Function, count: Int)
    case softmax(channels: Int, plane: Int)
    /// The inputs' channels one after another.
    case concat
    case add(count: Int)
    /// The network's input copied to the output (a network of views only).
    case copy(count: Int)
  }

  /// A pooling computed from a ring of its convolution's rows.
  public struct FusedPooling: Sendable {
    public var kind: Pooling.Kind
    /// Over the convolution's output.
    public var window: WindowGeometry
    /// The pooling layer's index.
    public var layer: Int
  }

  public struct Step: Sendable {
    /// The spec's layers it computes, the one that names it first.
    public var layers: [Int]
    public var operation: Operation
    /// Buffers read, in input order, and the buffer written (indices into `buffers`).
    public var inputs: [Int]
    public var output: Int
    /// The ring of a convolution fused with its pooling.
    public var scratch: Int?
    /// Its constant tensors in the order its C call takes them.
    public var constants: [Constant]
  }

  /// A tensor of constants: `<layer>_<role>` in the C file.
  public struct Constant: Sendable {
    public var role: String
    public var values: [Float]
  }

  /// A buffer: the caller's input or output, or a range of the arena.
  public struct Buffer: Sendable {
    public enum Place: Sendable, Equatable {
      case input
      case output
      case arena(offset: Int)
    }
    /// The layer whose output it first holds, or whose ring it is.
    public var layer: Int?
    public var isRing: Bool
    public var floats: Int
    public var place: Place
    public var firstStep: Int
    public var lastStep: Int
  }

  public let network: InferredNetwork
  public private(set) var steps: [Step] = []
  public private(set) var buffers: [Buffer] = []
  /// The arena's size: the end of its last buffer, a multiple of 16.
  public private(set) var arenaBytes = 0
  /// The most bytes of arena buffers alive at one step: no placement needs less.
  public private(set) var lowerBound = 0

  /// Bytes of the constant tensors (weights in flash on a device).
  public var constantBytes: Int {
    steps.reduce(0) { $0 + $1.constants.reduce(0) { $0 + 4 * $1.values.count } }
  }

  public var inputFloats: Int { network.input.elementCount ?? 0 }
  public var outputFloats: Int { network.layers.last?.output?.elementCount ?? 0 }

  /// Plans `network` with the parameter storage `parameters` (laid out by
  /// `InferredNetwork.parameterLayout`).
  public init(_ network: InferredNetwork, parameters: [Float]) throws(CompileError) {
    self.network = network
    var graph = try DeviceGraph(network)
    let values = try ParameterValues(network, parameters)
    graph.fuse()
    try build(graph, values)
    place()
  }

  private mutating func build(_ graph: DeviceGraph, _ values: ParameterValues)
    throws(CompileError)
  {
    let layers = network.layers
    // Buffers are first made one per value (a compute layer's output, and the network input
    // as -1); in-place steps then share their input's buffer.
    var bufferOf: [Int: Int] = [:]
    buffers.append(
      Buffer(
        layer: nil, isRing: false, floats: inputFloats, place: .input, firstStep: 0, lastStep: 0))
    bufferOf[-1] = 0
    let finalValue = graph.root(of: .layer(layers.count - 1)) ?? -1
    var lastRead: [Int: Int] = [:]
    let computed = layers.indices.filter { !graph.isView[$0] }
    for (step, index) in computed.enumerated() {
      for input in layers[index].inputs { lastRead[graph.root(of: input) ?? -1] = step }
    }
    for (step, index) in computed.enumerated() {
      let layer = layers[index]
      let inputs = layer.inputs.map { graph.root(of: $0) ?? -1 }
      let (operation, constants) = try Self.operation(of: index, graph, values)
      let shape = graph.outputShape[index]
      let floats = shape.elementCount ?? 0
      var scratch: Int?
      if case .convolution(let window, _, _, _, let pooling?) = operation {
        scratch = buffers.count
        buffers.append(
          Buffer(
            layer: index, isRing: true, floats: pooling.window.kernelHeight * window.outputWidth,
            place: .arena(offset: 0), firstStep: step, lastStep: step))
      }
      // An input that dies here may take the output, where the operation allows it.
      let candidates = Self.inPlaceInputs(operation, inputs: inputs).filter { value in
        guard value != -1, lastRead[value] == step, let buffer = bufferOf[value] else {
          return false
        }
        // The caller's output holds exactly the network's output.
        return index != finalValue || buffers[buffer].floats == floats
      }
      if let shared = candidates.first {
        bufferOf[index] = bufferOf[shared]
      } else {
        bufferOf[index] = buffers.count
        buffers.append(
          Buffer(
            layer: graph.namingLayer[index], isRing: false, floats: floats,
            place: index == finalValue ? .output : .arena(offset: 0), firstStep: step,
            lastStep: step))
      }
      let output = bufferOf[index]!
      buffers[output].lastStep = max(buffers[output].lastStep, lastRead[index] ?? step)
      if index == finalValue { buffers[output].place = .output }
      steps.append(
        Step(
          layers: graph.stepLayers[index], operation: operation,
          inputs: inputs.map { bufferOf[$0]! }, output: output, scratch: scratch,
          constants: constants))
    }
    if finalValue == -1 {
      buffers.append(
        Buffer(
          layer: layers.count - 1, isRing: false, floats: outputFloats, place: .output,
          firstStep: steps.count, lastStep: steps.count))
      steps.append(
        Step(
          layers: [layers.count - 1], operation: .copy(count: outputFloats), inputs: [0],
          output: buffers.count - 1, scratch: nil, constants: []))
    }
  }

  /// The inputs (buffers' values) a step may overwrite with its output, in preference order.
  private static func inPlaceInputs(_ operation: Operation, inputs: [Int]) -> [Int] {
    switch operation {
    case .activation, .affine, .softmax, .globalAveragePooling: [inputs[0]]
    // add(x0, x1, y) reads both before writing y[i]; further inputs are added into y after,
    // so a buffer read again among them must not be y.
    case .add: inputs.prefix(2).filter { !inputs.dropFirst(2).contains($0) }
    case .pooling(_, let window): poolsInPlace(window) ? [inputs[0]] : []
    case .convolution, .dense, .concat, .copy: []
    }
  }

  /// Whether pooling may write its outputs over its input: output j (channel, row, column
  /// order) is written after its window is read, so it is safe when no later window reads an
  /// input position at or before j.
  static func poolsInPlace(_ g: WindowGeometry) -> Bool {
    let outputs = g.channels * g.outputPlane
    guard outputs > 0 else { return true }
    var laterFirstRead = Int.max
    for j in stride(from: outputs - 1, through: 0, by: -1) {
      if j >= laterFirstRead { return false }
      let plane = j / g.outputPlane
      let (oy, ox) = ((j % g.outputPlane) / g.outputWidth, j % g.outputWidth)
      let row = max(oy * g.strideHeight - g.padHeight, 0)
      let column = max(ox * g.strideWidth - g.padWidth, 0)
      laterFirstRead = min(laterFirstRead, plane * g.inputPlane + row * g.inputWidth + column)
    }
    return true
  }

  /// Places the arena's buffers by their lifetimes.
  private mutating func place() {
    let arena = buffers.indices.filter {
      if case .arena = buffers[$0].place { return true } else { return false }
    }
    let records = arena.map {
      BufferRecord(
        bytes: 4 * buffers[$0].floats, firstStep: buffers[$0].firstStep,
        lastStep: buffers[$0].lastStep)
    }
    let offsets = ArenaPlanner.offsets(for: records, alignment: 16)
    for (buffer, offset) in zip(arena, offsets) { buffers[buffer].place = .arena(offset: offset) }
    arenaBytes = ArenaPlanner.roundUp(ArenaPlanner.arenaBytes(records, offsets: offsets), to: 16)
    lowerBound = ArenaPlanner.lowerBound(records)
  }

  /// Sets step `index`'s constants (an int8 checkpoint's float steps).
  mutating func replaceConstants(ofStep index: Int, with constants: [Constant]) {
    steps[index].constants = constants
  }
}
