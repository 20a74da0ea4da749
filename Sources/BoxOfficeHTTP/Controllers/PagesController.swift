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
        // Revalidated on every load: an upgrade of the instances shows at once.
        return Response(
            status: .ok, headers: [.contentType: file.contentType, .cacheControl: "no-cache"], body: ResponseBody(byteBuffer: file.body))
    }
}
