//! Reading a Prometheus `/metrics` endpoint: what the tests count, and the conditions they wait
//! on (calls a service has answered, pods a gateway balances over, connections in use).

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// The text exposition served at `http://{addr}/metrics`, checked to be a 200 in the text
/// format. (One HTTP/1.0 exchange on its own connection: no client library needed.)
pub async fn scrape(addr: SocketAddr) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(b"GET /metrics HTTP/1.0\r\nhost: localhost\r\n\r\n").await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("http://{addr}/metrics answers in time"))
        .unwrap_or_else(|error| panic!("http://{addr}/metrics: {error}"));
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response.as_str(), ""));
    let status = head.lines().next().unwrap_or_default();
    assert!(status.split(' ').nth(1) == Some("200"), "http://{addr}/metrics: {head}");
    assert!(
        head.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("content-type:") && line.contains("text/plain")
        }),
        "the text format: {head}"
    );
    body.to_owned()
}

/// The values of the series `name{labels...}` of a text exposition that carry every one of
/// `labels` (and any others).
fn series<'a>(
    text: &'a str,
    name: &'a str,
    labels: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = f64> + 'a {
    text.lines().filter(|line| !line.starts_with('#')).filter_map(move |line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
        let all = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (series_name == name && all).then(|| value.parse().ok()).flatten()
    })
}

/// The value of the first series `name{labels...}` that carries every one of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    series(text, name, labels).next()
}

/// The sum over every series `name{...}` that carries all of `labels`: e.g. the calls of one
/// method, whatever their status code.
pub fn total(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    series(text, name, labels).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x help\n# TYPE x counter\n\
        x_total{method=\"a\",code=\"OK\"} 3\n\
        x_total{method=\"a\",code=\"NOT_FOUND\"} 1\n\
        x_total{method=\"b\",code=\"OK\"} 5\n\
        g 2\n";

    #[test]
    fn a_sample_is_found_by_name_and_some_of_its_labels() {
        assert_eq!(sample(TEXT, "x_total", &[("method", "a"), ("code", "NOT_FOUND")]), Some(1.0));
        assert_eq!(sample(TEXT, "g", &[]), Some(2.0));
        assert_eq!(sample(TEXT, "x_total", &[("method", "c")]), None);
        assert_eq!(sample(TEXT, "x", &[]), None, "a name matches whole");
    }

    #[test]
    fn a_total_adds_every_matching_series() {
        assert_eq!(total(TEXT, "x_total", &[("method", "a")]), 4.0);
        assert_eq!(total(TEXT, "x_total", &[]), 9.0);
        assert_eq!(total(TEXT, "missing", &[]), 0.0);
    }
}
