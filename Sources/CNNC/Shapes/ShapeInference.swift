/// Infers every layer's output shape, parameter count and FLOPs, reporting what does not fit.
public enum ShapeInference {
  public static func infer(_ spec: NetworkSpec, diagnostics: inout DiagnosticList)
    -> InferredNetwork
  {
    var layers: [InferredLayer] = []
    layers.reserveCapacity(spec.layers.count)
    // Where each name is defined, to tell "unknown" from "defined later" from "duplicate".
    var indexByName: [String: Int] = [:]
    var laterIndexByName: [String: Int] = [:]
    for (index, layer) in spec.layers.enumerated() where laterIndexByName[layer.name] == nil {
      laterIndexByName[layer.name] = index
    }
    let allNames = spec.layers.map(\.name) + ["input"]

    for (index, layerSpec) in spec.layers.enumerated() {
      var inferred = InferredLayer(
        spec: layerSpec, inputs: [], inputShapes: [], output: nil, parameters: [],
        parameterCount: nil, flops: nil)
      if layerSpec.name == "input" {
        diagnostics.error(
          "\(layerSpec.subject): the name 'input' is reserved for the network's input",
          at: layerSpec.location)
      } else if let first = indexByName[layerSpec.name] {
        diagnostics.error(
          "\(layerSpec.subject): duplicate name; line \(spec.layers[first].location.line) "
            + "already defines '\(layerSpec.name)'", at: layerSpec.location)
      } else {
        indexByName[layerSpec.name] = index
      }

      var resolved = true
      for name in layerSpec.inputNames {
        if name == "input" {
          inferred.inputs.append(.networkInput)
          inferred.inputShapes.append(spec.input)
        } else if let source = indexByName[name], source < index {
          inferred.inputs.append(.layer(source))
          if let shape = layers[source].output {
            inferred.inputShapes.append(shape)
          } else {
            resolved = false
          }
        } else if let later = laterIndexByName[name], later >= index {
          let what =
            later == index
            ? "reads itself" : "is defined later, on line \(spec.layers[later].location.line)"
          diagnostics.error(
            "\(layerSpec.subject): input '\(name)' \(what); a layer reads only earlier layers",
            at: layerSpec.inputLocation)
          resolved = false
        } else {
          diagnostics.error(
            "\(layerSpec.subject): unknown input '\(name)'" + didYouMean(name, among: allNames),
            at: layerSpec.inputLocation)
          resolved = false
        }
      }

      if resolved, let layer = layerSpec.layer, !inferred.inputShapes.isEmpty {
        infer(layer, into: &inferred, diagnostics: &diagnostics)
      }
      if layerSpec.layer?.isClassSoftmax == true, index != spec.layers.count - 1 {
        diagnostics.error(
          "\(layerSpec.subject): softmax must be the last layer (it is \(index + 1) of \(spec.layers.count))",
          at: layerSpec.location)
      }
      layers.append(inferred)
    }
    var network = InferredNetwork(
      name: spec.name, input: spec.input, layers: layers, train: spec.train)
    network.inputLocation = spec.inputLocation
    return network
  }

  private static func infer(
    _ layer: any Layer, into inferred: inout InferredLayer, diagnostics: inout DiagnosticList
  ) {
    let spec = inferred.spec
    var check = ShapeCheck(
      subject: spec.subject, location: spec.location, inputNames: spec.inputNames)
    defer { diagnostics.append(contentsOf: check.diagnostics) }
    guard let output = layer.outputShape(for: inferred.inputShapes, check: &check) else {
      if !check.diagnostics.hasErrors {
        check.error("its output size overflows a 64-bit integer")
      }
      return
    }
    guard output.elementCount != nil else {
      check.error("its output \(output) has more elements than a 64-bit integer can count")
      return
    }
    let parameters = layer.parameters(for: inferred.inputShapes)
    let counts = parameters.map(\.floatCount)
    let learned = parameters.filter { $0.role == .learned }.compactMap(\.elementCount)
    guard !counts.contains(where: { $0 == nil }), let total = checkedSum(learned)
    else {
      check.error("its parameter count overflows a 64-bit integer")
      return
    }
    guard let multiplyAdds = layer.multiplyAdds(for: inferred.inputShapes, output: output),
      case (let flops, false) = multiplyAdds.multipliedReportingOverflow(by: 2)
    else {
      check.error("its FLOP count overflows a 64-bit integer")
      return
    }
    inferred.output = output
    inferred.parameters = parameters
    inferred.parameterCount = total
    inferred.flops = flops
  }
}
