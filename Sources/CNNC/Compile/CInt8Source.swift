/// The C of an int8 network (`cnnc compile` of a `cnnc quantize` checkpoint): the same header
/// contract as the float C (float input and output, one arena), int8 weights and activations,
/// the arithmetic of `QuantizedNetwork`'s integer reference operation for operation.
///
/// The call quantizes the input into the arena, runs the int8 steps, and dequantizes the last
/// int8 values into `output`; a last step that runs in float (a softmax) then runs there. Other
/// steps kept in float have no int8 C yet and are refused.
struct CInt8Source {
  let quantized: QuantizedNetwork
  let names: CSource
  let arena: Int8Arena

  var offsets: [Int: Int] { arena.offsets }
  var finalInt8Buffer: Int { arena.finalBuffer }

  func bufferName(_ index: Int) -> String {
    let buffer = quantized.plan.buffers[index]
    if buffer.place == .input { return "input_q" }
    let layer = buffer.layer.map(names.layerName) ?? "buffer"
    return "\(layer)_\(buffer.isRing ? "ring" : "out")"
  }

  /// The file's text after its first comment and includes.
  var body: String {
    var text = "/* Where each int8 buffer lives in the arena, in bytes. */\n"
    for (buffer, offset) in offsets.sorted(by: { ($0.value, $0.key) < ($1.value, $1.key) }) {
      text +=
        "#define OFFSET_\(bufferName(buffer).uppercased()) \(offset) /* \(quantized.plan.buffers[buffer].floats) bytes */\n"
    }
    text += "\n" + CInt8Library.types + "\n\n"
    var used: Set<String> = ["quantize", "dequantize"]
    for step in quantized.plan.steps {
      switch step.operation {
      case .convolution(_, _, _, _, let pooling):
        used.insert(pooling == nil ? "qconvolution" : "qconvolution_pooled")
      case .pooling: used.insert("qpooling")
      case .dense: used.insert("qdense")
      case .globalAveragePooling: used.insert("qglobal_average")
      case .activation: used.insert("qrelu")
      case .add, .concat: used.insert("rescale")
      default: break
      }
    }
    for function in CInt8Library.closure(of: used) {
      text += (CInt8Library.functions[function] ?? "") + "\n\n"
    }
    if quantized.floatSteps.contains(quantized.plan.steps.count - 1) {
      text += CLibrary.text(of: .softmax, activations: []) + "\n\n"
    }
    for (index, step) in quantized.plan.steps.enumerated()
    where !quantized.floatSteps.contains(index) {
      text += constants(index, step)
    }
    return text + run
  }

  private func mapping(_ q: QuantizationParameters) -> String {
    "scale \(q.scale), zero point \(q.zeroPoint)"
  }

  private func constants(_ index: Int, _ step: DevicePlan.Step) -> String {
    let name = names.layerName(step.layers[0])
    let input = quantized.inputMappings[index]
    let output = quantized.outputs[index]
    var text = "/* Step \(index + 1): \(names.describe(step)); output \(mapping(output)) */\n"
    switch step.operation {
    case .convolution(let window, let filters, let groups, let activation, let pooling):
      text += """
        static const struct qconvolution \(name)_layer = {
          \(names.windowFields(window)),
          .filters = \(filters), .groups = \(groups), .input_zero_point = \(input[0].zeroPoint),
          .output_zero_point = \(output.zeroPoint), .low = \(activation == .relu ? output.zeroPoint : -128)
        };

        """
      if let pooling {
        text += """
          static const struct qpooling \(names.layerName(pooling.layer))_layer = {
            \(names.windowFields(pooling.window)), .kind = \(pooling.kind == .max ? "MAX_POOLING" : "AVERAGE_POOLING"),
            .zero_point = \(output.zeroPoint)
          };

          """
      }
      text += weightedConstants(name, index)
    case .pooling(let kind, let window):
      text += """
        static const struct qpooling \(name)_layer = {
          \(names.windowFields(window)), .kind = \(kind == .max ? "MAX_POOLING" : "AVERAGE_POOLING"),
          .zero_point = \(input[0].zeroPoint)
        };

        """
    case .dense:
      text += weightedConstants(name, index)
    case .add:
      let rescale = Rescale(input.map(\.scale), to: output.scale)
      text +=
        "static const int64_t \(name)_multipliers[\(input.count)] = {\(rescale.multipliers.map { "\($0)LL" }.joined(separator: ", "))};\n"
    case .concat:
      let rescales = input.map { Rescale([$0.scale], to: output.scale) }
      text +=
        "static const int64_t \(name)_multipliers[\(input.count)] = {\(rescales.map { "\($0.multipliers[0])LL" }.joined(separator: ", "))};\n"
    case .globalAveragePooling(_, let plane):
      let rescale = Rescale([input[0].scale / Float(plane)], to: output.scale)
      text += "static const int64_t \(name)_multiplier = \(rescale.multipliers[0])LL;\n"
    default:
      break
    }
    return text + "\n"
  }

  private func weightedConstants(_ name: String, _ index: Int) -> String {
    guard let w = quantized.weighted[index] else { return "" }
    return array("int8_t", "\(name)_weight", w.weights.map { "\($0)" })
      + array("int32_t", "\(name)_bias", w.bias.map(Self.int32))
      + array("int32_t", "\(name)_multiplier", w.requantizations.map { Self.int32($0.multiplier) })
      + array("unsigned char", "\(name)_shift", w.requantizations.map { "\($0.shift)" })
  }

  private func array(_ type: String, _ name: String, _ literals: [String]) -> String {
    var text = "static const \(type) \(name)[\(literals.count)] = {\n"
    var line = " "
    for literal in literals {
      if line.count + literal.count + 2 > 100 {
        text += line + "\n"
        line = " "
      }
      line += " \(literal),"
    }
    return text + line + "\n};\n"
  }

  /// An int32 as a C literal (INT32_MIN is not one: 2147483648 does not fit an int).
  static func int32(_ value: Int32) -> String {
    value == .min ? "(-2147483647 - 1)" : "\(value)"
  }

  private var run: String {
    let plan = quantized.plan
    let last = plan.steps.count - 1
    var text = "void \(names.name)_run(const float *input, float *output, void *arena)\n{\n"
    text += "  int8_t *memory = (int8_t *)arena;\n"
    for buffer in offsets.keys.sorted() {
      text +=
        "  int8_t *\(bufferName(buffer)) = memory + OFFSET_\(bufferName(buffer).uppercased());\n"
    }
    text += "  int i;\n\n"
    text += "  /* The input, quantized: \(mapping(quantized.input)). */\n"
    text += "  for (i = 0; i < \(plan.inputFloats); i++)\n"
    text +=
      "    input_q[i] = quantize(input[i], \(CSource.literal(quantized.input.scale)), \(quantized.input.zeroPoint));\n"
    for (index, step) in plan.steps.enumerated()
    where index != last || !quantized.floatSteps.contains(index) {
      text += "\n  /* \(index + 1). \(names.describe(step)) */\n"
      text += call(index, step).map { "  \($0)\n" }.joined()
    }
    let finalMapping =
      quantized.floatSteps.contains(last)
      ? quantized.inputMappings[last][0] : quantized.outputs[last]
    text +=
      "\n  /* The last int8 values, dequantized into the output: \(mapping(finalMapping)). */\n"
    text += "  for (i = 0; i < \(plan.outputFloats); i++)\n"
    text +=
      "    output[i] = dequantize(\(bufferName(finalInt8Buffer))[i], \(CSource.literal(finalMapping.scale)), \(finalMapping.zeroPoint));\n"
    if quantized.floatSteps.contains(last),
      case .softmax(let channels, let plane) = plan.steps[last].operation
    {
      text += "\n  /* \(last + 1). \(names.describe(plan.steps[last])), in float on the output */\n"
      text += "  softmax(output, \(channels), \(plane), output);\n"
    }
    return text + "}\n"
  }

  private func call(_ index: Int, _ step: DevicePlan.Step) -> [String] {
    let name = names.layerName(step.layers[0])
    let inputs = step.inputs.map(bufferName)
    let output = bufferName(step.output)
    let input = quantized.inputMappings[index]
    let zy = quantized.outputs[index].zeroPoint
    let weighted = "\(name)_weight, \(name)_bias, \(name)_multiplier, \(name)_shift"
    switch step.operation {
    case .convolution(_, _, _, _, let pooling?):
      let ring = step.scratch.map(bufferName) ?? "0"
      return [
        "qconvolution_pooled(&\(name)_layer, &\(names.layerName(pooling.layer))_layer, \(inputs[0]), \(weighted), \(ring), \(output));"
      ]
    case .convolution:
      return ["qconvolution(&\(name)_layer, \(inputs[0]), \(weighted), \(output));"]
    case .pooling:
      return ["qpooling(&\(name)_layer, \(inputs[0]), \(output));"]
    case .dense(let count, let units, let activation):
      return [
        "qdense(\(inputs[0]), \(weighted), \(count), \(units), \(input[0].zeroPoint), \(zy), \(activation == .relu ? zy : -128), \(output));"
      ]
    case .globalAveragePooling(let channels, let plane):
      let shift = Rescale([input[0].scale / Float(plane)], to: quantized.outputs[index].scale).shift
      return [
        "qglobal_average(\(inputs[0]), \(channels), \(plane), \(input[0].zeroPoint), \(name)_multiplier, \(shift), \(zy), \(output));"
      ]
    case .activation(_, let count):
      return ["qrelu(\(inputs[0]), \(count), \(input[0].zeroPoint), \(output));"]
    case .add(let count):
      let shift = Rescale(input.map(\.scale), to: quantized.outputs[index].scale).shift
      let differences = zip(inputs, input).map { "(int64_t)\($0)[i] - \($1.zeroPoint)" }
      return [
        "for (i = 0; i < \(count); i++) {",
        "  int64_t differences[\(inputs.count)];",
      ] + differences.enumerated().map { "  differences[\($0.offset)] = \($0.element);" } + [
        "  \(output)[i] = rescale(differences, \(name)_multipliers, \(inputs.count), \(shift), \(zy));",
        "}",
      ]
    case .concat:
      var offset = 0
      var lines: [String] = []
      let shapes = quantized.plan.network.layers[step.layers[0]].inputShapes
      for (k, (source, shape)) in zip(inputs, shapes).enumerated() {
        let count = shape.elementCount ?? 0
        let shift = Rescale([input[k].scale], to: quantized.outputs[index].scale).shift
        lines += [
          "for (i = 0; i < \(count); i++) {",
          "  int64_t difference = (int64_t)\(source)[i] - \(input[k].zeroPoint);",
          "  \(output)[\(offset) + i] = rescale(&difference, &\(name)_multipliers[\(k)], 1, \(shift), \(zy));",
          "}",
        ]
        offset += count
      }
      return lines
    case .copy(let count):
      return ["memcpy(\(output), \(inputs[0]), \(count));"]
    case .affine, .softmax:
      return []
    }
  }
}

/// Where an int8 network's values live: the device plan's buffers, holding int8 values, placed
/// again by their lifetimes (`ArenaPlanner`). Every buffer a step reads or an int8 step writes
/// is in the arena; a last float step's own output is the caller's `output`.
struct Int8Arena: Sendable {
  /// Byte offsets by buffer.
  let offsets: [Int: Int]
  let bytes: Int
  let lowerBound: Int
  /// The buffer whose int8 values are dequantized into the output.
  let finalBuffer: Int

  /// Refuses, by name, a step kept in float that int8 C cannot run yet (any but a last softmax).
  init(_ quantized: QuantizedNetwork) throws(CompileError) {
    let plan = quantized.plan
    let last = plan.steps.count - 1
    for index in quantized.floatSteps.sorted() where index != last {
      throw CompileError(
        "step '\(plan.network.layers[plan.steps[index].layers[0]].name)' runs in float; int8 C "
          + "runs in float only a last softmax so far (quantize without --keep-float for it)")
    }
    let lastInFloat = quantized.floatSteps.contains(last)
    if lastInFloat {
      guard case .softmax = plan.steps[last].operation else {
        throw CompileError(
          "the last step runs in float but is not a softmax; int8 C has no form for it yet")
      }
    }
    var first: [Int: Int] = [:]
    var lastUse: [Int: Int] = [:]
    for (index, step) in plan.steps.enumerated() {
      var used = step.inputs + (step.scratch.map { [$0] } ?? [])
      if !(index == last && lastInFloat) { used.append(step.output) }
      for buffer in used {
        first[buffer] = min(first[buffer] ?? index, index)
        lastUse[buffer] = max(lastUse[buffer] ?? index, index)
      }
    }
    finalBuffer = lastInFloat ? plan.steps[last].inputs[0] : plan.steps[last].output
    lastUse[finalBuffer] = plan.steps.count  // read by the dequantize after the last step
    let buffers = first.keys.sorted()
    let records = buffers.map { buffer in
      BufferRecord(
        bytes: plan.buffers[buffer].floats, firstStep: first[buffer] ?? 0,
        lastStep: lastUse[buffer] ?? 0)
    }
    let placed = ArenaPlanner.offsets(for: records, alignment: 4)
    offsets = Dictionary(uniqueKeysWithValues: zip(buffers, placed))
    bytes = ArenaPlanner.roundUp(ArenaPlanner.arenaBytes(records, offsets: placed), to: 16)
    lowerBound = ArenaPlanner.lowerBound(records)
  }
}
