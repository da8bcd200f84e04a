//! The signals that end a run: Ctrl-C and SIGTERM (what `docker stop`, systemd and CI send).

/// Resolves on Ctrl-C or SIGTERM, naming which.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
