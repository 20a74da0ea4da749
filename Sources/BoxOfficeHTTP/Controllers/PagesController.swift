import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /` (the fan's page), `GET /admin` (the operator's page) and `GET /assets/<file>` (their
/// scripts and styles). The pages use only the public API, as any client would.
struct PagesController {
    let pages: WebPages

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("/") { _, _ in try self.serve("index.html") }
        group.get("admin") { _, _ in try self.serve("admin.html") }
        group.get("assets/:file") { _, context in try self.serve(context.parameters.get("file") ?? "") }
    }

    func serve(_ name: String) throws -> Response {
        guard let file = self.pages.file(name) else { throw HTTPError(.notFound) }
        var headers = Self.securityHeaders
        headers[.contentType] = file.contentType
        // Revalidated on every load: an upgrade of the instances shows at once.
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: file.body))
    }

    /// The pages load their scripts and styles from /assets and talk to the API of the same
    /// origin, nothing else: no inline script or style, no framing (clickjacking of the payment
    /// buttons), no MIME sniffing, no referrer with a queue token in it leaving the site.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
            + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
    ]
}
