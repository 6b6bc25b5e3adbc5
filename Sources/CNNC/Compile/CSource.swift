/// The C files `cnnc compile` writes for a `DevicePlan`: `NAME.h`, whose contract is the
/// function `NAME_run` and three sizes, and `NAME.c`, plain C99 with the weights as constants.
public struct CSource: Sendable {
  public let plan: DevicePlan
  /// The C identifier the function, the macros and the files are named by.
  public let name: String
  /// Where the spec came from, for the files' first comment.
  public let specPath: String
  /// Set for an int8 network's C (`CInt8Source`), with where its int8 values live.
  public private(set) var quantized: QuantizedNetwork?
  private var int8Arena: Int8Arena?
  /// Each layer's C name: its spec name made an identifier, unique without regard to case.
  private let layerNames: [String]

  func layerName(_ layer: Int) -> String { layerNames[layer] }

  public init(_ plan: DevicePlan, name: String, specPath: String) throws(CompileError) {
    guard Self.isIdentifier(name) else {
      throw CompileError(
        "'\(name)' is not a C identifier (letters, digits and _, not starting with a digit); "
          + "name the files and the function with --name, e.g. --name \(Self.identifier(name))")
    }
    self.plan = plan
    self.name = name
    self.specPath = specPath
    var taken: Set<String> = []
    layerNames = plan.network.layers.map { layer in
      let base = Self.identifier(layer.name)
      var candidate = base
      var suffix = 2
      while !taken.insert(candidate.uppercased()).inserted {
        candidate = "\(base)_\(suffix)"
        suffix += 1
      }
      return candidate
    }
  }

  /// The C of an int8 network: the same contract, int8 weights and activations.
  public init(_ quantized: QuantizedNetwork, name: String, specPath: String) throws(CompileError) {
    try self.init(quantized.plan, name: name, specPath: specPath)
    self.quantized = quantized
    int8Arena = try Int8Arena(quantized)  // refuses what int8 C cannot run yet
  }

  /// The int8 generator, for an int8 network.
  private var int8: CInt8Source? {
    guard let quantized, let int8Arena else { return nil }
    return CInt8Source(quantized: quantized, names: self, arena: int8Arena)
  }

  /// Where buffer `index` of the plan lives in the arena, in bytes, and its size there: int8
  /// values for an int8 network; nil for the caller's input and output.
  public func arenaPlace(ofBuffer index: Int) -> (offset: Int, bytes: Int)? {
    let buffer = plan.buffers[index]
    if let int8Arena {
      return int8Arena.offsets[index].map { ($0, buffer.floats) }
    }
    if case .arena(let offset) = buffer.place { return (offset, 4 * buffer.floats) }
    return nil
  }

  /// The arena the call needs, in bytes.
  public var arenaBytes: Int { int8Arena?.bytes ?? plan.arenaBytes }

  /// The most arena bytes alive at one step, which no placement beats.
  public var lowerBound: Int { int8Arena?.lowerBound ?? plan.lowerBound }

  /// Bytes of constants: int8 weights, int32 biases and multipliers, shifts; or floats.
  public var constantBytes: Int {
    guard let quantized else { return plan.constantBytes }
    return quantized.weighted.values.reduce(0) { $0 + $1.weights.count + 9 * $1.bias.count }
  }

  /// Whether `name` is a C identifier (and not one C reserves: a leading underscore).
  public static func isIdentifier(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII
    else { return false }
    return name.unicodeScalars.allSatisfy { scalar in
      scalar.isASCII
        && (scalar == "_" || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar))
    }
  }

  /// `name` with every character C does not allow in an identifier made `_`, and a leading
  /// `layer_` where it would not start with a letter.
  static func identifier(_ name: String) -> String {
    let allowed = String(
      name.unicodeScalars.map { scalar -> Character in
        scalar.isASCII
          && (scalar == "_" || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar))
          ? Character(scalar) : "_"
      })
    return isIdentifier(allowed) ? allowed : "layer_" + allowed
  }

  private var macro: String { name.uppercased() }

  // MARK: The header

  public var header: String {
    let network = plan.network
    let last = network.layers[network.layers.count - 1]
    let copies = plan.steps.contains { step in
      switch step.operation {
      case .concat, .copy: true
      default: false
      }
    }
    let usesExp = plan.steps.contains { step in
      switch step.operation {
      case .softmax: true
      case .convolution(_, _, _, let f?, _), .dense(_, _, let f?), .activation(let f, _):
        f == .sigmoid || f == .tanh
      default: false
      }
    }
    return """
      /* \(name).h: the network "\(network.name)" from \(specPath), compiled by cnnc \(cnncVersion).
       * Generated; regenerate it with cnnc compile rather than editing it.
       *
       * \(name)_run(input, output, arena) runs one image through the trained network:
       *   input   \(macro)_INPUT_FLOATS floats, \(Self.shapeText(network.input)) (channels x height x width),
       *           what the network's first layer receives; \(preparation)
       *   output  \(macro)_OUTPUT_FLOATS floats, the output of \(last.spec.subject)\(last.spec.layer?.isClassSoftmax == true ? " (class probabilities)" : "")
       *   arena   \(macro)_ARENA_BYTES bytes of working memory, aligned to 16 bytes
       * None of the three may overlap. The call keeps no state between calls (several threads may
       * run it at once, each with its own arena), never allocates, and uses from the C library
       * \(libraryUse(copies: copies, exp: usesExp)).
       */
      #ifndef \(macro)_H
      #define \(macro)_H

      #ifdef __cplusplus
      extern "C" {
      #endif

      #define \(macro)_INPUT_FLOATS  \(plan.inputFloats)   /* C*H*W of one image, NCHW */
      #define \(macro)_OUTPUT_FLOATS \(plan.outputFloats)   /* the last layer's output for one image */
      #define \(macro)_ARENA_BYTES   \(arenaBytes)   /* the working memory the call needs */

      void \(name)_run(const float *input, float *output, void *arena);

      #ifdef __cplusplus
      }
      #endif

      #endif

      """
  }

  private func libraryUse(copies: Bool, exp: Bool) -> String {
    switch (copies, exp) {
    case (true, true): "memcpy and expf (link with -lm)"
    case (false, true): "only expf (link with -lm)"
    case (true, false): "only memcpy"
    case (false, false): "nothing"
    }
  }

  /// What the spec does to pixels before the network sees them, as lines of the header.
  private var preparation: String {
    guard let data = plan.network.train?.data else {
      return "the spec names no data, so how its\n *           pixels are prepared is not known"
    }
    var parts = ["multiplies each pixel by \(data.preprocessing.scale)"]
    if !data.preprocessing.mean.isEmpty {
      parts.append("subtracts the mean \(data.preprocessing.mean)")
    }
    if !data.preprocessing.std.isEmpty {
      parts.append("divides by the std \(data.preprocessing.std)")
    }
    return "the spec\n *           " + parts.joined(separator: ", ")
      + ",\n *           which is the caller's to apply"
  }

  // MARK: The source

  public var source: String {
    var text = """
      /* \(name).c: the network "\(plan.network.name)" from \(specPath), compiled by cnnc \(cnncVersion)\(quantized == nil ? "" : " in int8").
       * Generated; regenerate it with cnnc compile rather than editing it.
       * Arena: \(arenaBytes) bytes (the plan's lower bound: \(lowerBound)); constants: \(constantBytes) bytes.
       */
      #include "\(name).h"

      #include <math.h>
      #include <stdint.h>
      #include <string.h>


      """
    if let int8 { return text + int8.body }
    text += arenaOffsets + "\n"
    text += CLibrary.types + "\n\n"
    let (functions, activations) = usedFunctions
    for function in CLibrary.closure(of: functions) {
      text += CLibrary.text(of: function, activations: activations) + "\n\n"
    }
    for (index, step) in plan.steps.enumerated() {
      text += constants(of: step, index)
    }
    text += run
    return text
  }

  /// The arena's buffers' offsets as named constants, in address order.
  private var arenaOffsets: String {
    var lines = [
      "/* Where each buffer lives in the arena, in bytes, and the steps it lives through. */"
    ]
    let placed = plan.buffers.indices.compactMap { index -> (Int, Int)? in
      if case .arena(let offset) = plan.buffers[index].place { return (index, offset) }
      return nil
    }
    for (index, offset) in placed.sorted(by: { ($0.1, $0.0) < ($1.1, $1.0) }) {
      let buffer = plan.buffers[index]
      lines.append(
        "#define \(offsetName(index)) \(offset) /* \(buffer.floats * 4) bytes, steps "
          + "\(buffer.firstStep + 1)-\(buffer.lastStep + 1) */")
    }
    return lines.joined(separator: "\n") + "\n"
  }

  func bufferName(_ index: Int) -> String {
    let buffer = plan.buffers[index]
    switch buffer.place {
    case .input: return "input"
    case .output: return "output"
    case .arena:
      let layer = buffer.layer.map { layerNames[$0] } ?? "buffer"
      return "\(layer)_\(buffer.isRing ? "ring" : "out")"
    }
  }

  func offsetName(_ index: Int) -> String { "OFFSET_" + bufferName(index).uppercased() }

  /// The functions the steps call, and the activations they apply.
  private var usedFunctions: (Set<CLibrary.Function>, Set<String>) {
    var functions: Set<CLibrary.Function> = []
    var activations: Set<String> = []
    func uses(_ function: Activation.Function?) {
      switch function {
      case .relu: activations.insert("RELU")
      case .leakyReLU: activations.insert("LEAKY_RELU")
      case .sigmoid: activations.insert("SIGMOID")
      case .tanh:
        activations.insert("TANH")
        functions.insert(.tanhOf)
      case nil: break
      }
    }
    for step in plan.steps {
      switch step.operation {
      case .convolution(_, _, _, let activation, let pooling):
        functions.insert(pooling == nil ? .convolution : .convolutionPooled)
        uses(activation)
      case .pooling: functions.insert(.pooling)
      case .globalAveragePooling: functions.insert(.globalAverage)
      case .dense(_, _, let activation):
        functions.insert(.dense)
        uses(activation)
      case .affine: functions.insert(.affine)
      case .activation(let function, _):
        functions.insert(.activateAll)
        uses(function)
      case .softmax: functions.insert(.softmax)
      case .add: functions.insert(.add)
      case .concat, .copy: break
      }
    }
    return (functions, activations)
  }
}
