/// Each step's constants and its call in `NAME_run`.
extension CSource {
  /// The step's layer descriptions and constant tensors.
  func constants(of step: DevicePlan.Step, _ index: Int) -> String {
    let layer = step.layers[0]
    let name = layerName(layer)
    var text = "/* Step \(index + 1): \(describe(step)) */\n"
    switch step.operation {
    case .convolution(let window, let filters, let groups, let activation, let pooling):
      text += """
        static const struct convolution \(name)_layer = {
          \(windowFields(window)),
          .filters = \(filters), .groups = \(groups), \(activationFields(activation))
        };

        """
      if let pooling {
        text += """
          static const struct pooling \(layerName(pooling.layer))_layer = {
            \(windowFields(pooling.window)), .kind = \(poolingKind(pooling.kind))
          };

          """
      }
    case .pooling(let kind, let window):
      text += """
        static const struct pooling \(name)_layer = {
          \(windowFields(window)), .kind = \(poolingKind(kind))
        };

        """
    default: break
    }
    for constant in step.constants {
      text += "static const float \(name)_\(constant.role)[\(constant.values.count)] = {\n"
      var line = " "
      for value in constant.values {
        let literal = " " + Self.literal(value) + ","
        if line.count + literal.count > 100 {
          text += line + "\n"
          line = " "
        }
        line += literal
      }
      text += line + "\n};\n"
    }
    return text + "\n"
  }

  /// The function that runs the steps.
  var run: String {
    var text = "void \(name)_run(const float *input, float *output, void *arena)\n{\n"
    let arena = plan.buffers.indices.filter {
      if case .arena = plan.buffers[$0].place { return true } else { return false }
    }
    if arena.isEmpty {
      text += "  (void)arena;\n"
    } else {
      text += "  char *memory = (char *)arena;\n"
      for buffer in arena {
        text += "  float *\(bufferName(buffer)) = (float *)(memory + \(offsetName(buffer)));\n"
      }
    }
    for (index, step) in plan.steps.enumerated() {
      text += "\n  /* \(index + 1). \(describe(step)) */\n"
      text += call(step).map { "  \($0)\n" }.joined()
    }
    return text + "}\n"
  }

  /// The statements of one step.
  private func call(_ step: DevicePlan.Step) -> [String] {
    let name = layerName(step.layers[0])
    let inputs = step.inputs.map(bufferName)
    let output = bufferName(step.output)
    let bias = step.constants.contains { $0.role == "bias" } ? "\(name)_bias" : "0"
    switch step.operation {
    case .convolution(_, _, _, _, let pooling?):
      let ring = step.scratch.map(bufferName) ?? "0"
      return [
        "convolution_pooled(&\(name)_layer, &\(layerName(pooling.layer))_layer, \(inputs[0]), "
          + "\(name)_weight, \(bias), \(ring), \(output));"
      ]
    case .convolution:
      return ["convolution(&\(name)_layer, \(inputs[0]), \(name)_weight, \(bias), \(output));"]
    case .pooling:
      return ["pooling(&\(name)_layer, \(inputs[0]), \(output));"]
    case .globalAveragePooling(let channels, let plane):
      return ["global_average(\(inputs[0]), \(channels), \(plane), \(output));"]
    case .dense(let count, let units, let activation):
      return [
        "dense(\(inputs[0]), \(name)_weight, \(bias), \(count), \(units), "
          + "\(activationArguments(activation)), \(output));"
      ]
    case .affine(let channels, let plane):
      return [
        "channel_affine(\(inputs[0]), \(name)_scale, \(name)_shift, \(channels), \(plane), "
          + "\(output));"
      ]
    case .activation(let function, let count):
      return ["activate_all(\(inputs[0]), \(count), \(activationArguments(function)), \(output));"]
    case .softmax(let channels, let plane):
      return ["softmax(\(inputs[0]), \(channels), \(plane), \(output));"]
    case .concat:
      var offset = 0
      let shapes = plan.network.layers[step.layers[0]].inputShapes
      return zip(shapes, inputs).map { shape, input in
        let floats = shape.elementCount ?? 0
        defer { offset += floats }
        return "memcpy(\(output) + \(offset), \(input), \(floats) * sizeof(float));"
      }
    case .add(let count):
      return ["add(\(inputs[0]), \(inputs[1]), \(count), \(output));"]
        + inputs.dropFirst(2).map { "add(\(output), \($0), \(count), \(output));" }
    case .copy(let count):
      return ["memcpy(\(output), \(inputs[0]), \(count) * sizeof(float));"]
    }
  }

  /// What a step computes, for the comments above its constants and its call.
  func describe(_ step: DevicePlan.Step) -> String {
    let network = plan.network
    var parts: [String] = []
    for layer in step.layers {
      let inferred = network.layers[layer]
      let input = inferred.inputShapes.map(Self.shapeText).joined(separator: " + ")
      parts.append(
        "\(inferred.name) (\(inferred.typeName)\(windowText(layer))): \(input) -> "
          + "\(inferred.output.map(Self.shapeText) ?? "?")")
    }
    var text = parts.joined(separator: "; ")
    if step.layers.count > 1 {
      let first = layerName(step.layers[0])
      text +=
        " (fused into one step: the later layers act on \(first)'s values as it computes "
        + "them\(step.scratch != nil ? ", its rows held in \(first)_ring" : ""))"
    }
    if let shared = step.inputs.first(where: { $0 == step.output }) {
      text += " (in place: the output overwrites \(bufferName(shared)))"
    }
    return text
  }

  private func windowText(_ layer: Int) -> String {
    switch plan.network.layers[layer].spec.layer {
    case let convolution as Convolution:
      return " \(convolution.kernel.height)x\(convolution.kernel.width), stride "
        + "\(convolution.stride.height)x\(convolution.stride.width), pad "
        + "\(convolution.pad.height)x\(convolution.pad.width)"
        + (convolution.groups > 1 ? ", \(convolution.groups) groups" : "")
    case let pooling as Pooling:
      return " \(pooling.kernel.height)x\(pooling.kernel.width), stride "
        + "\(pooling.stride.height)x\(pooling.stride.width), pad "
        + "\(pooling.pad.height)x\(pooling.pad.width)"
    default:
      return ""
    }
  }

  func windowFields(_ w: WindowGeometry) -> String {
    ".window = {.channels = \(w.channels), .height = \(w.inputHeight), .width = \(w.inputWidth), "
      + ".kernel_h = \(w.kernelHeight), .kernel_w = \(w.kernelWidth), .stride_h = "
      + "\(w.strideHeight), .stride_w = \(w.strideWidth),\n              .pad_h = \(w.padHeight), "
      + ".pad_w = \(w.padWidth), .out_h = \(w.outputHeight), .out_w = \(w.outputWidth)}"
  }

  private func activationFields(_ function: Activation.Function?) -> String {
    let (name, slope) = Self.activation(function)
    return ".activation = \(name), .slope = \(slope)"
  }

  private func activationArguments(_ function: Activation.Function?) -> String {
    let (name, slope) = Self.activation(function)
    return "\(name), \(slope)"
  }

  private static func activation(_ function: Activation.Function?) -> (String, String) {
    switch function {
    case nil: ("NO_ACTIVATION", "0.0f")
    case .relu: ("RELU", "0.0f")
    case .leakyReLU(let slope): ("LEAKY_RELU", literal(slope))
    case .sigmoid: ("SIGMOID", "0.0f")
    case .tanh: ("TANH", "0.0f")
    }
  }

  private func poolingKind(_ kind: Pooling.Kind) -> String {
    kind == .max ? "MAX_POOLING" : "AVERAGE_POOLING"
  }

  /// A float as a C literal that reads back as the same float (Swift prints the shortest such).
  static func literal(_ value: Float) -> String { "\(value)f" }

  static func shapeText(_ shape: Shape) -> String {
    "\(shape.channels)x\(shape.height)x\(shape.width)"
  }
}
