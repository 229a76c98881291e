import NetKit

/// Streaming both ways and client results: the parts of a connection that live beside its invocation queue.
extension SignalRConnection {
    // MARK: Upload streams (client→server)

    /// Opens the upload streams an invocation names, before it is queued. Nil: refused (an error Completion was
    /// sent): too many open, or one id named twice.
    func openUploads(_ inv: InvocationMessage) -> [UploadStream]? {
        guard let ids = inv.streamIds, !ids.isEmpty else { return [] }
        guard Set(ids).count == ids.count,
            streams.uploads.count + ids.count <= ConnectionStreams.maxUploads
        else {
            endpoint.throttledLog.warning(logger, kind: "upload-streams-refused",
                "upload streams refused: duplicates or too many open",
                ["method": LogText.cut(inv.target), "streams": "\(ids.count)", "limit": "\(ConnectionStreams.maxUploads)"])
            complete(inv.invocationId, error: HubErrors.hubException(
                inv.target, "At most \(ConnectionStreams.maxUploads) distinct upload streams may be open on a connection."))
            return nil
        }
        return ids.map { id in
            // ASP.NET Core replaces a stream whose id is reused; the old one's reader learns why.
            streams.uploads[id]?.finish(error: HubStreamError("The client reused the stream id '\(id)'."))
            let upload = UploadStream(id: id)
            streams.uploads[id] = upload
            return upload
        }
    }

    /// The invocation that owned these streams is over (or never ran): they end, and later items are ignored.
    func endUploads(_ uploads: [UploadStream]) {
        for upload in uploads {
            if streams.uploads[upload.id] === upload { streams.uploads[upload.id] = nil }
            upload.finish()
        }
    }

    /// A StreamItem: an item of an upload stream. Unknown ids are ignored, as ASP.NET Core does.
    func uploadItem(_ id: String, _ item: JSONValue) {
        guard let upload = streams.uploads[id] else {
            logger.debug("ignored a stream item for an unknown stream", ["stream": LogText.cut(id)])
            return
        }
        if !upload.push(item) {
            streams.uploads[id] = nil
            endpoint.throttledLog.warning(logger, kind: "upload-stream-overflow",
                "upload stream failed: too many bytes unread", ["stream": LogText.cut(id), "limit": "\(upload.maxBufferedBytes)"])
        }
    }

    /// A Completion from the client: ends an upload stream (with its error, if any), or answers a client result.
    /// Anything else is ignored.
    func completionReceived(_ id: String, result: JSONValue?, error: String?) {
        if let upload = streams.uploads.removeValue(forKey: id) {
            upload.finish(error: error.map { HubStreamError($0) })
        } else if let done = streams.clientResults.removeValue(forKey: id) {
            done(error.map { .clientError($0) } ?? .result(result ?? .null))
        } else {
            logger.debug("ignored a Completion for an unknown id", ["invocation": LogText.cut(id)])
        }
    }

    // MARK: Server→client streams

    /// Runs a streaming method as a task. The queue waits until the method has returned its sequence
    /// (``outgoingStreamStarted(_:)``), not while it streams.
    func startOutgoingStream(
        _ inv: InvocationMessage, _ body: @escaping @Sendable (HubCaller, HubMethod.Inputs, StreamOutput) async throws -> Void,
        _ inputs: HubMethod.Inputs
    ) {
        let id = inv.invocationId ?? ""
        guard streams.outgoing[id] == nil else {
            endUploads(inputs.streams)
            endpoint.counters.invocationErrors &+= 1
            sendHubMessage(.completion(invocationId: id, result: nil, error: HubErrors.invocationIdInUse(id)))
            return
        }
        guard streams.outgoing.count < ConnectionStreams.maxOutgoing else {
            endUploads(inputs.streams)
            endpoint.counters.invocationErrors &+= 1
            sendHubMessage(.completion(invocationId: id, result: nil, error: HubErrors.hubException(
                inv.target, "At most \(ConnectionStreams.maxOutgoing) streams may run at once on a connection.")))
            return
        }
        busy = true
        streams.outgoing[id] = ConnectionStreams.Outgoing()
        let output = StreamOutput(invocationId: id, connection: self)
        let caller = self.caller
        let loop = self.loop
        let box = UnsafeSendableBox(self)
        let request = UnsafeSendableBox(inv)
        let task = Task {
            var failure: (any Error)?
            do {
                try await body(caller, inputs, output)
            } catch {
                failure = error
            }
            let outcome = UnsafeSendableBox(failure)
            loop.execute { box.value.endOutgoingStream(request.value, failure: outcome.value, uploads: inputs.streams) }
        }
        streams.outgoing[id]?.task = task
    }

    /// The streaming method returned its sequence: the next queued invocation may run.
    func outgoingStreamStarted(_ id: String) {
        guard streams.outgoing[id]?.started == false else { return }
        streams.outgoing[id]!.started = true
        busy = false
        runQueued()
    }

    /// The stream's task ended: its Completion (no error when it ended or was cancelled).
    private func endOutgoingStream(_ inv: InvocationMessage, failure: (any Error)?, uploads: [UploadStream]) {
        let id = inv.invocationId ?? ""
        endUploads(uploads)
        // Gone: the connection closed (and released the queue) meanwhile.
        guard let entry = streams.outgoing.removeValue(forKey: id) else { return }
        switch failure {
        case nil:
            sendHubMessage(.completion(invocationId: id, result: nil, error: nil))
        case let start as StreamStartFailure:
            finish(inv, .failure(start.error))
        case is CancellationError where entry.cancelled:
            // A cancelled stream is not an error (ASP.NET Core sends a plain Completion).
            sendHubMessage(.completion(invocationId: id, result: nil, error: nil))
        case let e as HubException:
            endpoint.counters.invocationErrors &+= 1
            sendHubMessage(.completion(invocationId: id, result: nil, error: HubErrors.streamingFailed(hubException: e.message)))
        case let error?:
            endpoint.counters.invocationErrors &+= 1
            endpoint.throttledLog.warning(logger, kind: "hub-stream-failed",
                "hub stream failed", ["method": LogText.cut(inv.target), "error": LogText.cut("\(error)", limit: 160)])
            let text = endpoint.options.detailedErrors
                ? HubErrors.streamingFailed + " \(type(of: error)): \(error)"
                : HubErrors.streamingFailed
            sendHubMessage(.completion(invocationId: id, result: nil, error: text))
        }
        if !entry.started {
            busy = false
            runQueued()
        }
    }

    /// A CancelInvocation: the stream's task is cancelled; its Completion follows when the task ends.
    func cancelOutgoingStream(_ id: String) {
        guard streams.outgoing[id] != nil else {
            logger.debug("ignored a cancel for an unknown stream", ["invocation": LogText.cut(id)])
            return
        }
        streams.outgoing[id]!.cancelled = true
        streams.outgoing[id]!.task?.cancel()
    }

    /// Sends a stream item, then calls `done` once the transport has room for the next (false: stop).
    func sendStreamItem(_ id: String, _ item: JSONValue, done: @escaping (Bool) -> Void) {
        guard phase == .active, let entry = streams.outgoing[id], !entry.cancelled else { return done(false) }
        sendHubMessage(.streamItem(invocationId: id, item: item))
        waitForRoom(id, delay: ConnectionStreams.drainPollNanos, done: done)
    }

    /// Back-pressure: while the transport holds more than ``ConnectionStreams/maxPendingWriteBytes``, looks again
    /// later (backing off to 100 ms).
    private func waitForRoom(_ id: String, delay: UInt64, done: @escaping (Bool) -> Void) {
        guard transport.pendingWriteBytes > ConnectionStreams.maxPendingWriteBytes else { return done(true) }
        _ = loop.schedule(afterNanos: delay) { [weak self] in
            guard let self, self.phase == .active, let entry = self.streams.outgoing[id], !entry.cancelled else {
                return done(false)
            }
            self.waitForRoom(id, delay: min(delay * 2, 100_000_000), done: done)
        }
    }

    // MARK: Client results

    /// Invokes `target` on this client with an invocation id; `completion` gets its Completion, or a failure
    /// when the connection ends first. Returns a canceller that forgets the wait (a timeout).
    func invokeClient(
        _ target: String, arguments: [JSONValue], completion: @escaping (ClientResultOutcome) -> Void
    ) -> () -> Void {
        guard phase == .active else {
            completion(.failed(HubErrors.connectionDisconnected(connectionId)))
            return {}
        }
        guard streams.clientResults.count < ConnectionStreams.maxClientResults else {
            completion(.failed("Connection '\(connectionId)' already has \(ConnectionStreams.maxClientResults) client results pending."))
            return {}
        }
        streams.lastClientInvocationId &+= 1
        // A letter first: upload stream ids, which clients number from 0, never take these.
        let id = "r\(streams.lastClientInvocationId)"
        streams.clientResults[id] = completion
        sendHubMessage(.invocation(InvocationMessage(invocationId: id, target: target, arguments: arguments)))
        return { [weak self] in self?.streams.clientResults[id] = nil }
    }

    // MARK: End

    /// The connection ended: streams are cancelled, upload readers fail, awaited client results fail.
    func endStreams() {
        let current = streams
        streams = ConnectionStreams()
        for entry in current.outgoing.values { entry.task?.cancel() }
        for upload in current.uploads.values { upload.finish(error: .connectionClosed) }
        for done in current.clientResults.values { done(.failed(HubErrors.connectionDisconnected(connectionId))) }
    }
}
