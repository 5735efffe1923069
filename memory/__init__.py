from .sessions import SessionBusy, SessionInfo, SessionNotFound, SessionRecorder, SessionStore, SessionStoreError  # noqa: E402,F401
