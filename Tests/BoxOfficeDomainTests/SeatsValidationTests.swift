import BoxOfficeDomain
import Testing

@Suite("ReservationService.validateSeats")
struct SeatsValidationTests {
    private func invalidSeat(_ seats: [Int], max: Int = 4) -> Bool {
        do {
            _ = try ReservationService.validateSeats(seats, max: max)
            return false
        } catch let error as BoxOfficeError {
            if case .invalidSeat = error { return true }
            return false
        } catch {
            return false
        }
    }

    @Test("an empty selection is INVALID_SEAT")
    func empty() {
        #expect(self.invalidSeat([]))
    }

    @Test("more than max seats is INVALID_SEAT; exactly max is fine")
    func tooMany() throws {
        #expect(self.invalidSeat([1, 2, 3, 4, 5], max: 4))
        #expect(self.invalidSeat([1, 2], max: 1))
        #expect(try ReservationService.validateSeats([4, 3, 2, 1], max: 4) == [1, 2, 3, 4])
    }

    @Test("seats outside 1...50 are INVALID_SEAT", arguments: [[0], [51], [-1], [1, 51], [50, 0], [Int.max], [Int.min]])
    func outOfRange(seats: [Int]) {
        #expect(self.invalidSeat(seats))
    }

    @Test("the bounds 1 and 50 are valid")
    func bounds() throws {
        #expect(try ReservationService.validateSeats([50, 1], max: 4) == [1, 50])
        #expect(try ReservationService.validateSeats([1], max: 4) == [1])
        #expect(try ReservationService.validateSeats([50], max: 4) == [50])
    }

    @Test("duplicate seats are INVALID_SEAT", arguments: [[7, 7], [1, 2, 1], [3, 4, 4, 3]])
    func duplicates(seats: [Int]) {
        #expect(self.invalidSeat(seats))
    }

    @Test("valid selections come back ascending")
    func sorted() throws {
        #expect(try ReservationService.validateSeats([8, 7], max: 4) == [7, 8])
        #expect(try ReservationService.validateSeats([50, 3, 27, 1], max: 4) == [1, 3, 27, 50])
        #expect(try ReservationService.validateSeats(Array((1...50).reversed()), max: 50) == Array(1...50))
    }
}
