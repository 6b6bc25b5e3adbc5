/// A 2-D float32 array in NumPy's `.npy` format (version 1.0, little-endian, C order).
public enum NumPyFile {
  /// The file's bytes; `values` holds `rows × columns` floats, row by row.
  public static func encoded(rows: Int, columns: Int, values: [Float]) -> [UInt8] {
    // A mismatch is cnnc's own bug (callers take both from one plan), never the user's input.
    let (count, overflow) = rows.multipliedReportingOverflow(by: columns)
    precondition(
      rows >= 0 && columns >= 0 && !overflow && count == values.count,
      "a \(rows)×\(columns) array needs \(rows)×\(columns) values, not \(values.count)")
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64,
    // ending in a newline.
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
    let length = UInt16(header.utf8.count)
    bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
    bytes += Array(header.utf8)
    bytes.reserveCapacity(bytes.count + values.count * 4)
    for value in values {
      withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }
    return bytes
  }

  /// Writes the array atomically (temporary file, fsync, rename).
  public static func write(rows: Int, columns: Int, values: [Float], to path: String)
    throws(CheckpointError)
  {
    try OutputFile.write(encoded(rows: rows, columns: columns, values: values), to: path)
  }
}
