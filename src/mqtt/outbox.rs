//! The bounded queue between what happened and the broker: the core never
//! waits on it, and when the broker is slow or away the oldest messages go
//! first (counted), so what is published after a reconnect is the newest.

use bytes::Bytes;
use std::collections::VecDeque;

/// One message waiting for the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    /// A command for another node: sent with its expiry and answer topic.
    pub remote: Option<RemoteMeta>,
    /// An answer to another node's command.
    pub correlation: Option<Bytes>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteMeta {
    pub id: u64,
    pub answer_to: String,
    pub expiry_s: u32,
}

impl Message {
    pub fn new(topic: String, payload: impl Into<Bytes>, retain: bool) -> Message {
        Message { topic, payload: payload.into(), retain, remote: None, correlation: None }
    }
}

pub struct Outbox {
    queue: VecDeque<Message>,
    capacity: usize,
    dropped: u64,
}

impl Outbox {
    pub fn new(capacity: usize) -> Outbox {
        Outbox { queue: VecDeque::new(), capacity: capacity.max(1), dropped: 0 }
    }

    /// Queue a message; past the capacity the oldest goes, and is returned.
    pub fn push(&mut self, m: Message) -> Option<Message> {
        let dropped = if self.queue.len() >= self.capacity {
            self.dropped += 1;
            self.queue.pop_front()
        } else {
            None
        };
        self.queue.push_back(m);
        dropped
    }

    /// Queue a retained state, dropping a queued message on the same topic
    /// first: only the latest matters, so a camera's pictures can never fill
    /// the queue while the broker is slow.
    pub fn push_latest(&mut self, m: Message) -> Option<Message> {
        self.queue.retain(|q| q.topic != m.topic);
        self.push(m)
    }

    pub fn front(&self) -> Option<&Message> {
        self.queue.front()
    }

    pub fn pop(&mut self) -> Option<Message> {
        self.queue.pop_front()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_capacity_the_oldest_goes_and_is_counted() {
        let mut o = Outbox::new(2);
        for i in 0..5 {
            o.push(Message::new(format!("t/{i}"), "x", false));
        }
        assert_eq!(o.len(), 2);
        assert_eq!(o.dropped(), 3);
        assert_eq!(o.pop().unwrap().topic, "t/3");
        assert_eq!(o.pop().unwrap().topic, "t/4");
        assert!(o.is_empty());
    }
}
