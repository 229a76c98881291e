import Foundation
import Testing

@testable import SignalRMesh

// Data, URL and Decimal get the JSON forms Foundation's JSONEncoder gives them by default; Date keeps its own.

@Suite struct JSONValueCodingFoundationTests {
    @Test func dataIsBase64() throws {
        let record = Record(
            blob: Data([0, 1, 0xFE, 0xFF]), link: URL(string: "https://example.com/a?b=1")!,
            price: Decimal(string: "19.90")!)
        let text = try CodingCheck.encode(record)
        #expect(text == #"{"blob":"AAH+/w==","link":"https://example.com/a?b=1","price":19.9}"#)
        let back = try CodingCheck.decode(Record.self, text)
        #expect(back == record)
        // Interchangeable with Foundation's coders, both ways.
        #expect(try JSONDecoder().decode(Record.self, from: Data(text.utf8)) == record)
        let foundationText = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        #expect(try CodingCheck.decode(Record.self, foundationText) == record)
        #expect(try CodingCheck.decode(Data.self, #""""#) == Data())
        #expect(CodingCheck.failure(Data.self, #""not base64!""#)?.kind == "dataCorrupted")
        #expect(CodingCheck.failure(Data.self, "[0,1]")?.kind == "typeMismatch")
        #expect(try CodingCheck.encode([Data([1]), Data()]) == #"["AQ==",""]"#)
    }

    @Test func urlIsItsAbsoluteString() throws {
        #expect(try CodingCheck.encode(URL(string: "http://h/p")!) == #""http://h/p""#)
        #expect(try CodingCheck.decode(URL.self, #""mailto:a@b""#) == URL(string: "mailto:a@b"))
        #expect(CodingCheck.failure(URL.self, #""""#)?.kind == "dataCorrupted")
        #expect(CodingCheck.failure(URL.self, "1")?.kind == "typeMismatch")
    }

    @Test func decimalIsAnExactNumber() throws {
        // Read from the literal, not through Double: 0.1 + 0.2 is exactly 0.3.
        let values = try CodingCheck.decode([Decimal].self, "[0.1,0.2,1e3,-2.5E-3,12345678901234567890]")
        #expect(values[0] + values[1] == Decimal(string: "0.3"))
        #expect(values[2] == 1000 && values[3] == Decimal(string: "-0.0025"))
        #expect(try CodingCheck.encode(values) == "[0.1,0.2,1000,-0.0025,12345678901234567890]")
        #expect(CodingCheck.failure(Decimal.self, "1e400")?.kind == "dataCorrupted")
        #expect(CodingCheck.failure(Decimal.self, #""1.5""#)?.kind == "typeMismatch")
        #expect(CodingCheck.failure(Decimal.self, "null")?.kind == "valueNotFound")
        #expect(throws: DecodingError.self) { try JSONValueDecoder.decode(Decimal.self, from: .number("1x")) }
        #expect(CodingCheck.rejectsEncoding(Decimal.nan))
    }

    @Test func dateKeepsItsOwnForm() throws {
        // Seconds since 2001-01-01, as Date's Codable and JSONEncoder's default give.
        #expect(try CodingCheck.encode(Date(timeIntervalSinceReferenceDate: 1.5)) == "1.5")
        #expect(try CodingCheck.decode(Date.self, "-2") == Date(timeIntervalSinceReferenceDate: -2))
    }
}

private struct Record: Codable, Equatable {
    var blob: Data
    var link: URL
    var price: Decimal
}
