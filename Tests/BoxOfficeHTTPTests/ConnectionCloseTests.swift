@testable import BoxOfficeHTTP
import Testing

@Suite("Connection: close is recognised among the field's options")
struct ConnectionCloseTests {
    @Test("close in any case, alone or among other options; not keep-alive or an empty field")
    func options() {
        #expect(ConnectionCloseMiddleware.asksToClose(["close"]))
        #expect(ConnectionCloseMiddleware.asksToClose(["Close"]))
        #expect(ConnectionCloseMiddleware.asksToClose(["keep-alive, close"]))
        #expect(ConnectionCloseMiddleware.asksToClose(["upgrade", " CLOSE "]))
        #expect(!ConnectionCloseMiddleware.asksToClose(["keep-alive"]))
        #expect(!ConnectionCloseMiddleware.asksToClose(["closed"]))
        #expect(!ConnectionCloseMiddleware.asksToClose([]))
        #expect(!ConnectionCloseMiddleware.asksToClose([""]))
    }
}
