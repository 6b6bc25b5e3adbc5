/// A trained network as C files (`cnnc compile`): the plan, the files' text, and where they go.
public struct CompiledNetwork: Sendable {
  public let plan: DevicePlan
  public let source: CSource
  private let parameters: [Float]

  /// Plans `network` for one image at a time with the trained `parameters` (the storage
  /// `InferredNetwork.parameterLayout` lays out) and names its C by `name`.
  public init(_ network: InferredNetwork, parameters: [Float], name: String, specPath: String)
    throws(CompileError)
  {
    plan = try DevicePlan(network, parameters: parameters)
    source = try CSource(plan, name: name, specPath: specPath)
    self.parameters = parameters
  }

  /// An int8 network's C, from a `cnnc quantize` checkpoint.
  public init(_ quantized: QuantizedNetwork, name: String, specPath: String) throws(CompileError) {
    plan = quantized.plan
    source = try CSource(quantized, name: name, specPath: specPath)
    parameters = []
  }

  /// `folder/NAME.h`, `folder/NAME.c` and, with `selfTest`, `folder/NAME_test.c`.
  public func files(in folder: String, selfTest: Bool) throws -> [(bytes: [UInt8], path: String)] {
    let name = source.name
    var files = [
      (Array(source.header.utf8), "\(folder)/\(name).h"),
      (Array(source.source.utf8), "\(folder)/\(name).c"),
    ]
    if selfTest {
      let test =
        try source.quantized.map { SelfTest.source(source, quantized: $0) }
        ?? SelfTest.source(source, parameters: parameters)
      files.append((Array(test.utf8), "\(folder)/\(name)_test.c"))
    }
    return files.map { (bytes: $0.0, path: $0.1) }
  }
}
