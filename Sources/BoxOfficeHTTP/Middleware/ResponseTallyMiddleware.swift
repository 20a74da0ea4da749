import BoxOfficeDomain
import Hummingbird

/// Counts every response by status for the error-rate alert (AlertMonitor). It sits beside the
/// metrics middleware, outside the error mapping, so a thrown error counts under its real status.
struct ResponseTallyMiddleware<Context: RequestContext>: RouterMiddleware {
    let tally: ResponseTally

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            self.tally.record(status: Int(response.status.code))
            return response
        } catch let error as any HTTPResponseError {
            self.tally.record(status: Int(error.status.code))
            throw error
        } catch {
            self.tally.record(status: 500)
            throw error
        }
    }
}
