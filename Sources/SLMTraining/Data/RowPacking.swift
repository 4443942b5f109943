/// Lays samples into rows of `capacity` tokens, whole samples only.
enum RowPacking {
    /// First fit: each sample, in `order`, goes into the first open row with room for it, or
    /// starts a new row. A row is closed once the shortest sample no longer fits, which keeps the
    /// search short. Returns each row's sample indices, in the order they sit in the row.
    static func firstFit(lengths: [Int], order: [Int], capacity: Int) -> [[Int]] {
        guard let shortest = lengths.min() else { return [] }
        var rows: [[Int]] = []
        var room: [Int] = []
        var open: [Int] = []  // rows that may still take a sample, in creation order
        for sample in order {
            let length = lengths[sample]
            precondition(length <= capacity, "a sample is longer than a row")
            var at = open.firstIndex { room[$0] >= length }
            if at == nil {
                rows.append([])
                room.append(capacity)
                open.append(rows.count - 1)
                at = open.count - 1
            }
            let row = open[at!]
            rows[row].append(sample)
            room[row] -= length
            if room[row] < shortest { open.remove(at: at!) }
        }
        return rows
    }
}
