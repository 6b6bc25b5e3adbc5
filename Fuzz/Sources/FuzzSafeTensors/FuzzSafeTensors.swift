// The checkpoint reader on arbitrary bytes. Whatever it accepts must survive a round trip
// through the writer unchanged (names, shapes, metadata and every value's bits).
import CNNC

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let decoded = try? SafeTensors.decode(bytes, file: "fuzz.safetensors") else { return 0 }
  let again: SafeTensors
  do {
    again = try SafeTensors.decode(decoded.encoded(), file: "again.safetensors")
  } catch {
    fatalError("an accepted checkpoint does not read back after writing: \(error)")
  }
  precondition(again.metadata == decoded.metadata, "metadata changed in a round trip")
  precondition(again.tensors.count == decoded.tensors.count, "tensor count changed")
  for (a, b) in zip(again.tensors, decoded.tensors) {
    precondition(a.name == b.name && a.shape == b.shape, "tensor \(b.name) changed")
    precondition(a.values.map(\.bitPattern) == b.values.map(\.bitPattern), "values changed")
  }
  return 0
}
