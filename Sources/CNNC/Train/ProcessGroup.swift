/// Why a collective operation across processes failed.
public struct ProcessGroupError: Error, CustomStringConvertible, Sendable {
  public var message: String
  public var description: String { message }

  public init(_ message: String) { self.message = message }
}

/// The processes of one data-parallel training run and the two collective operations the
/// trainer needs. Every rank calls the same operations in the same order with the same byte
/// counts. `MPIProcessGroup` (the `CNNCMPI` library) runs them on MPI; a run without a group is
/// one process.
public protocol ProcessGroup: AnyObject {
  /// This process's place, 0..<size.
  var rank: Int { get }
  var size: Int { get }
  /// Fills in every rank's part of `buffer` on every rank: the buffer holds `size` equal parts
  /// in rank order, and each rank has written its own part (at `rank` × `buffer.count / size`).
  func allGather(_ buffer: UnsafeMutableRawBufferPointer) throws(ProcessGroupError)
  /// Copies rank `root`'s `buffer` into every other rank's.
  func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws(ProcessGroupError)
}

extension ProcessGroup {
  /// Every rank's `values` (the same count on each), in rank order.
  func allGather<Value: BitwiseCopyable>(_ values: [Value]) throws(ProcessGroupError) -> [Value] {
    guard let first = values.first else { return [] }
    var result = [Value](repeating: first, count: values.count * size)
    result.replaceSubrange(rank * values.count..<(rank + 1) * values.count, with: values)
    let error: ProcessGroupError? = result.withUnsafeMutableBytes { buffer in
      do throws(ProcessGroupError) {
        try allGather(buffer)
        return nil
      } catch {
        return error
      }
    }
    if let error { throw error }
    return result
  }

  /// Rank `root`'s `values` on every rank; the count must be the same on each.
  func broadcast<Value: BitwiseCopyable>(_ values: inout [Value], root: Int = 0)
    throws(ProcessGroupError)
  {
    let error: ProcessGroupError? = values.withUnsafeMutableBytes { buffer in
      do throws(ProcessGroupError) {
        try broadcast(buffer, root: root)
        return nil
      } catch {
        return error
      }
    }
    if let error { throw error }
  }
}
