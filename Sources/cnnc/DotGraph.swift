import CNNC

/// The network as a Graphviz digraph: one node per layer, each edge labelled with its shape.
enum DotGraph {
  static func text(_ network: InferredNetwork) -> String {
    var lines = ["digraph \(JSON.quoted(network.name)) {", "  rankdir=TB;", "  node [shape=box];"]
    lines.append("  \"input\" [label=\"input\\n\(network.input)\", shape=ellipse];")
    for (index, layer) in network.layers.enumerated() {
      lines.append("  n\(index) [label=\(JSON.quoted("\(layer.name)\n\(layer.typeName)"))];")
    }
    for (index, layer) in network.layers.enumerated() {
      for (position, input) in layer.inputs.enumerated() {
        let source: String
        switch input {
        case .networkInput: source = "\"input\""
        case .layer(let producer): source = "n\(producer)"
        }
        let shape =
          layer.inputShapes.indices.contains(position) ? "\(layer.inputShapes[position])" : "?"
        lines.append("  \(source) -> n\(index) [label=\(JSON.quoted(shape))];")
      }
    }
    lines.append("}")
    return lines.joined(separator: "\n")
  }
}
