/// The candidate closest to a misspelled `word`, when one is close enough to suggest.
func closestMatch(to word: String, among candidates: [String]) -> String? {
  let limit = max(1, word.count / 3)
  var best: (name: String, distance: Int)?
  for candidate in candidates {
    let distance = editDistance(word.lowercased(), candidate.lowercased())
    if distance <= limit, distance < (best?.distance ?? Int.max) {
      best = (candidate, distance)
    }
  }
  return best?.name
}

/// " (did you mean 'x'?)" or nothing.
func didYouMean(_ word: String, among candidates: [String]) -> String {
  closestMatch(to: word, among: candidates).map { "; did you mean '\($0)'?" } ?? ""
}

/// Levenshtein distance; words here are short, so the plain two-row table is fine.
func editDistance(_ a: String, _ b: String) -> Int {
  let a = Array(a)
  let b = Array(b)
  guard a.count < 64, b.count < 64 else { return max(a.count, b.count) }
  var previous = Array(0...b.count)
  var current = previous
  for i in 1...max(1, a.count) where !a.isEmpty {
    current[0] = i
    for j in stride(from: 1, through: b.count, by: 1) {
      let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
      current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
    }
    swap(&previous, &current)
  }
  return a.isEmpty ? b.count : previous[b.count]
}
