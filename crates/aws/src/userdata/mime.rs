//! A small MIME multipart reader and writer for cloud-init user data: the parts of a
//! user's document are kept as they are, and a document is written with the `//` boundary
//! upstream uses.

use super::UserDataError;

/// The boundary of documents we write.
pub const BOUNDARY: &str = "//";

/// One part: its headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The `Content-Type` value.
    pub content_type: String,
    /// The body.
    pub body: String,
}

/// Is `text` a MIME document (it declares a multipart content type)?
pub fn is_mime(text: &str) -> bool {
    text.lines().take_while(|l| !l.trim().is_empty()).any(|l| {
        l.to_ascii_lowercase()
            .starts_with("content-type: multipart/")
    })
}

/// The parts of a multipart document.
pub fn parse(text: &str) -> Result<Vec<Part>, UserDataError> {
    let text = text.replace("\r\n", "\n");
    let (head, rest) = text
        .split_once("\n\n")
        .ok_or_else(|| UserDataError::Mime("no blank line after the headers".into()))?;
    let boundary = head
        .lines()
        .find_map(|l| {
            let lower = l.to_ascii_lowercase();
            let at = lower.find("boundary=")?;
            Some(
                l[at + "boundary=".len()..]
                    .trim()
                    .trim_matches('"')
                    .to_string(),
            )
        })
        .ok_or_else(|| UserDataError::Mime("no boundary in Content-Type".into()))?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for chunk in rest.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
        let (headers, body) = chunk.split_once("\n\n").unwrap_or((chunk, ""));
        let content_type = headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_string())
            })
            .ok_or_else(|| UserDataError::Mime("a part has no Content-Type".into()))?;
        parts.push(Part {
            content_type,
            body: body.trim_end_matches('\n').to_string(),
        });
    }
    Ok(parts)
}

/// A multipart document of `parts`.
pub fn write(parts: &[Part]) -> String {
    let mut out =
        format!("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\n\n");
    for p in parts {
        out.push_str(&format!(
            "--{BOUNDARY}\nContent-Type: {}\n\n{}\n\n",
            p.content_type, p.body
        ));
    }
    out.push_str(&format!("--{BOUNDARY}--\n"));
    out
}

/// The user's `userData` as parts: its own parts when it is MIME, else one part typed
/// by its content (a NodeConfig, or a shell script).
pub fn user_parts(user: Option<&str>) -> Result<Vec<Part>, UserDataError> {
    let Some(text) = user.filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    if is_mime(text) {
        return parse(text);
    }
    let content_type = if text.contains("kind: NodeConfig") {
        "application/node.eks.aws"
    } else {
        "text/x-shellscript; charset=\"us-ascii\""
    };
    Ok(vec![Part {
        content_type: content_type.into(),
        body: text.trim_end_matches('\n').to_string(),
    }])
}
