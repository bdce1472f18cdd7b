//! Digests of allowed uploads. When policy allows uploads to a target, `scp -O` (the
//! classic scp protocol, `scp -t` on the target) passes; this follows the engineer's side
//! of that protocol as it streams through and reports each file's path, size and SHA-256,
//! so the recording and the audit log say exactly what was put on the server. It only
//! watches: the bytes are relayed (and recorded) unchanged whatever it makes of them.
//!
//! The sink protocol, engineer → target: `T<mtime> 0 <atime> 0\n` (times, optional),
//! `C<mode> <size> <name>\n` then `size` bytes then `\0` (a file), `D<mode> 0 <name>\n` …
//! `E\n` (a directory). Not SFTP, which stays refused.

use sha2::{Digest, Sha256};

/// Longest control line followed; a longer one stops the digests (never the relay).
const MAX_LINE: usize = 4096;

/// One uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Path as sent, with the directories it was sent in (`dir/sub/file`).
    pub path: Vec<u8>,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
}

enum State {
    /// Reading a control line.
    Line(Vec<u8>),
    /// Reading a file's content.
    Data {
        path: Vec<u8>,
        size: u64,
        left: u64,
        hash: Sha256,
    },
    /// The `\0` after a file's content.
    Trailer(Uploaded),
    /// Lost the thread (malformed or oversized): no more digests on this channel.
    Lost,
}

/// Follows one `scp -t` input stream.
pub struct ScpSink {
    state: State,
    dirs: Vec<Vec<u8>>,
}

impl Default for ScpSink {
    fn default() -> Self {
        ScpSink {
            state: State::Line(Vec::new()),
            dirs: Vec::new(),
        }
    }
}

impl ScpSink {
    /// Whether the stream could no longer be followed.
    pub fn is_lost(&self) -> bool {
        matches!(self.state, State::Lost)
    }

    /// Feeds input bytes; returns the files completed by them.
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<Uploaded> {
        let mut done = Vec::new();
        while !data.is_empty() {
            let state = std::mem::replace(&mut self.state, State::Lost);
            self.state = match state {
                State::Lost => return done,
                State::Line(mut line) => match data.iter().position(|b| *b == b'\n') {
                    Some(end) => {
                        let (head, rest) = data.split_at(end);
                        line.extend_from_slice(head);
                        data = rest.get(1..).unwrap_or_default();
                        self.control(&line)
                    }
                    None => {
                        line.extend_from_slice(data);
                        data = &[];
                        if line.len() > MAX_LINE {
                            State::Lost
                        } else {
                            State::Line(line)
                        }
                    }
                },
                State::Data {
                    path,
                    size,
                    left,
                    mut hash,
                } => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
                    let (chunk, rest) = data.split_at(take);
                    hash.update(chunk);
                    data = rest;
                    let left = left.saturating_sub(take as u64);
                    if left == 0 {
                        State::Trailer(Uploaded {
                            path,
                            size,
                            sha256: hash.finalize().into(),
                        })
                    } else {
                        State::Data {
                            path,
                            size,
                            left,
                            hash,
                        }
                    }
                }
                State::Trailer(file) => match data.split_first() {
                    Some((0, rest)) => {
                        data = rest;
                        done.push(file);
                        State::Line(Vec::new())
                    }
                    _ => State::Lost,
                },
            };
        }
        done
    }

    /// Acts on one control line.
    fn control(&mut self, line: &[u8]) -> State {
        match line.split_first() {
            Some((b'C', rest)) => match parse_entry(rest) {
                Some((size, name)) => {
                    let path = self.path(name);
                    if size == 0 {
                        State::Trailer(Uploaded {
                            path,
                            size,
                            sha256: Sha256::digest([]).into(),
                        })
                    } else {
                        State::Data {
                            path,
                            size,
                            left: size,
                            hash: Sha256::new(),
                        }
                    }
                }
                None => State::Lost,
            },
            Some((b'D', rest)) => match parse_entry(rest) {
                Some((_, name)) => {
                    self.dirs.push(name.to_vec());
                    State::Line(Vec::new())
                }
                None => State::Lost,
            },
            Some((b'E', _)) => {
                self.dirs.pop();
                State::Line(Vec::new())
            }
            Some((b'T', _)) => State::Line(Vec::new()),
            _ => State::Lost,
        }
    }

    fn path(&self, name: &[u8]) -> Vec<u8> {
        let mut path = Vec::new();
        for dir in &self.dirs {
            path.extend_from_slice(dir);
            path.push(b'/');
        }
        path.extend_from_slice(name);
        path
    }
}

/// `<mode> <size> <name>` after the `C` or `D`.
fn parse_entry(rest: &[u8]) -> Option<(u64, &[u8])> {
    let mut parts = rest.splitn(3, |b| *b == b' ');
    let _mode = parts.next()?;
    let size = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let name = parts.next()?;
    (!name.is_empty()).then_some((size, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    #[test]
    fn one_file_in_any_split_gives_its_digest() {
        let mut stream = b"C0644 11 hello.txt\nhello world\0".to_vec();
        stream.extend_from_slice(b"D0755 0 etc\nT1 0 1 0\nC0600 3 conf\nabc\0E\n");
        for cut in 0..stream.len() {
            let mut sink = ScpSink::default();
            let (a, b) = stream.split_at(cut);
            let mut got = sink.feed(a);
            got.extend(sink.feed(b));
            assert_eq!(
                got,
                vec![
                    Uploaded {
                        path: b"hello.txt".to_vec(),
                        size: 11,
                        sha256: sha(b"hello world")
                    },
                    Uploaded {
                        path: b"etc/conf".to_vec(),
                        size: 3,
                        sha256: sha(b"abc")
                    },
                ],
                "cut at {cut}"
            );
            assert!(!sink.is_lost());
        }
    }

    #[test]
    fn empty_files_and_garbage() {
        let mut sink = ScpSink::default();
        assert_eq!(sink.feed(b"C0644 0 empty\n\0")[0].sha256, sha(b""));
        let mut sink = ScpSink::default();
        assert!(sink.feed(b"Xnonsense\n").is_empty());
        assert!(sink.is_lost());
        let mut sink = ScpSink::default();
        sink.feed(&vec![b'a'; MAX_LINE + 10]);
        assert!(sink.is_lost());
    }
}
