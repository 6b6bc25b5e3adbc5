// The ONNX importer on arbitrary bytes: an error, or a spec that cnnc's own checker reads
// without a crash, whose weights make a checkpoint of it (or an error), never a crash, a trap or
// a hang. The spec it writes must be one YAML document that names the model.
import CNNC
import CNNCONNX
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let imported = try? ONNXImport(Data(bytes: data, count: size), name: "fuzz") else {
    return 0
  }
  precondition(imported.yaml.hasPrefix("name: fuzz\ninput: ["), "the spec lost its head")
  let result = SpecChecker.check(Array(imported.yaml.utf8), name: "fuzz")
  for diagnostic in result.diagnostics.sorted {
    precondition(diagnostic.location.line >= 1, "a diagnostic points before the spec")
  }
  if result.isValid, let network = result.network {
    _ = try? imported.checkpoint(for: network)
  }
  return 0
}
