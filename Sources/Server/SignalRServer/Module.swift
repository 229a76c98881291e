// SignalRServer module.
