// The .npy and .npz readers on arbitrary bytes: an error or an array whose every value can be
// read within the bytes given, never a crash, a trap or a read past the end.
@testable import CNNC

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumPyReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let file = DataFile(path: "fuzz", bytes: Array(UnsafeBufferPointer(start: data, count: size)))
  let array: NumPyArray?
  if size >= 2 && data[0] == 0x50 && data[1] == 0x4B {  // "PK": a zip archive
    array = try? NumPyArchive.array("images", in: file)
  } else {
    array = try? NumPyArray(file)
  }
  guard let array else { return 0 }
  precondition(array.values.upperBound <= array.storage.size, "values past the end")
  let elements = array.shape.reduce(1, *)
  precondition(elements * array.itemBytes == array.values.count, "values miscounted")
  if let integers = try? array.integers() {
    precondition(integers.count == elements, "integers miscounted")
  }
  var seen = 0
  try? array.forEachValueChunk { offset, bytes in
    precondition(offset == seen, "a chunk skipped or repeated")
    seen += bytes.count
    return true
  }
  precondition(seen == array.values.count, "the chunks miss values")
  return 0
}
