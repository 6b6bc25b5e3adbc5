// The .npy writer on arbitrary shapes and values (NaN, infinities, subnormals, empty arrays):
// the file must be well formed and hold exactly the values given.
import CNNC

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumPy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = UnsafeBufferPointer(start: data, count: size)
  guard let first = bytes.first else { return 0 }
  // The first byte picks the column count (0–255); the rest are float32 values, row by row.
  let columns = Int(first)
  let values = stride(from: 1, to: size - 3, by: 4).map { offset in
    Float(
      bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) })
  }
  let rows = columns == 0 ? 0 : values.count / columns
  let kept = Array(values.prefix(rows * columns))
  let file = NumPyFile.encoded(rows: rows, columns: columns, values: kept)

  precondition(file.starts(with: [0x93] + Array("NUMPY".utf8) + [1, 0]), "bad magic")
  let headerLength = Int(file[8]) | Int(file[9]) << 8
  let dataStart = 10 + headerLength
  precondition(dataStart % 64 == 0, "the data does not start 64-byte aligned")
  precondition(file[dataStart - 1] == UInt8(ascii: "\n"), "the header does not end in a newline")
  let header = String(decoding: file[10..<dataStart], as: UTF8.self)
  precondition(header.contains("'shape': (\(rows), \(columns)),"), "wrong shape in \(header)")
  precondition(file.count == dataStart + 4 * kept.count, "wrong length")
  for (index, value) in kept.enumerated() {
    let offset = dataStart + 4 * index
    let bits = (0..<4).reduce(UInt32(0)) { $0 | UInt32(file[offset + $1]) << (8 * $1) }
    precondition(bits == value.bitPattern, "value \(index) written wrongly")
  }
  return 0
}
