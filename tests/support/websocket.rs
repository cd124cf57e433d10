//! Reading what a WebSocket client receives: its text frames, then the close.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// The text frames a socket receives until it is closed, and the close code (`None`: the
/// connection ended without a close frame); `Err` when it was not closed within `within`.
pub async fn frames_until_close<S>(
    socket: &mut S,
    within: Duration,
) -> Result<(Vec<String>, Option<CloseCode>), String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut texts = Vec::new();
    let read = async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Text(t)) => texts.push(t.to_string()),
                Ok(Message::Close(frame)) => return frame.map(|f| f.code),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    };
    let close = tokio::time::timeout(within, read)
        .await
        .map_err(|_| format!("the socket was not closed within {within:?}"))?;
    Ok((texts, close))
}
