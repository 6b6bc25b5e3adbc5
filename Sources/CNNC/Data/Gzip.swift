import CZlib

/// Inflates gzip data (or, with `raw`, a bare deflate stream as in a zip archive) with zlib,
/// refusing output past `limit` bytes (a gzip bomb stops there); with `prefix`, returns the
/// first `limit` bytes instead (or all, if fewer) without checking the rest.
func gunzip(
  _ compressed: [UInt8], limit: Int, file: String, raw: Bool = false, prefix: Bool = false
) throws(DataError) -> [UInt8] {
  var stream = z_stream()
  guard (raw ? cnnc_inflate_init_raw(&stream) : cnnc_inflate_init_gzip(&stream)) == Z_OK else {
    throw DataError(file: file, "zlib could not start inflating")
  }
  defer { inflateEnd(&stream) }
  var output: [UInt8] = []
  let chunk = 1 << 20
  var chunkBuffer = [UInt8](repeating: 0, count: chunk)
  var status = Z_OK
  var failure: DataError?
  compressed.withUnsafeBufferPointer { input in
    stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
    stream.avail_in = UInt32(input.count)
    chunkBuffer.withUnsafeMutableBufferPointer { buffer in
      while status == Z_OK {
        stream.next_out = buffer.baseAddress
        stream.avail_out = UInt32(chunk)
        status = inflate(&stream, Z_NO_FLUSH)
        let produced = chunk - Int(stream.avail_out)
        guard output.count + produced <= limit else {
          if prefix {
            output.append(contentsOf: buffer[0..<(limit - output.count)])
            status = Z_STREAM_END
          } else {
            failure = DataError(file: file, "inflates to more than \(limit) bytes")
          }
          return
        }
        output.append(contentsOf: buffer[0..<produced])
        if status == Z_BUF_ERROR && stream.avail_in == 0 { break }
      }
    }
  }
  if let failure { throw failure }
  switch status {
  case Z_STREAM_END:
    return output
  case Z_BUF_ERROR, Z_OK:
    throw DataError(file: file, "the compressed data is truncated (it ends before its last block)")
  default:
    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
    throw DataError(file: file, "the compressed data is corrupt: \(message)")
  }
}
