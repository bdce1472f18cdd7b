//! The session JWT: HS256, compact, signed and checked by `jsonwebtoken` with the gateway's
//! session key; nothing but HS256 is accepted whatever a token's header says. Not where the
//! token travels (`cookies.rs`) nor whether its web session still stands (`caller.rs`).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;

/// What a session JWT says: the user, the web session's id, issued and expiry (unix seconds).
#[derive(serde::Serialize, Deserialize)]
pub(super) struct Claims {
    pub(super) sub: String,
    pub(super) jti: String,
    pub(super) iat: i64,
    pub(super) exp: i64,
}

/// The one algorithm a session JWT may name; a token naming any other (`none`, `HS512`, an
/// asymmetric one) is refused whatever its signature.
const JWT_ALG: Algorithm = Algorithm::HS256;

/// A signed JWT for `sub` with id `jti`, valid until `exp` (unix seconds).
pub(super) fn jwt_sign(key: &[u8; 32], claims: &Claims) -> Option<String> {
    let key = EncodingKey::from_secret(key);
    jsonwebtoken::encode(&Header::new(JWT_ALG), claims, &key).ok()
}

/// How a session JWT is checked: [`JWT_ALG`] only, `sub` and `exp` present, no audience.
/// Expiry is compared by [`jwt_verify`] against the time it is given, not the library's
/// clock, so the check is the same at every call and testable.
fn jwt_validation() -> Validation {
    let mut v = Validation::new(JWT_ALG);
    v.required_spec_claims = ["exp", "sub"].into_iter().map(String::from).collect();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.leeway = 0;
    v
}

/// The claims of `token` if it is an HS256 JWT signed with `key` and not expired at `now`.
pub(super) fn jwt_verify(key: &[u8; 32], token: &str, now_secs: i64) -> Option<Claims> {
    let key = DecodingKey::from_secret(key);
    let data = jsonwebtoken::decode::<Claims>(token, &key, &jwt_validation()).ok()?;
    (data.claims.exp > now_secs).then_some(data.claims)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    use sha2::Sha256;

    use super::*;

    /// A compact JWS by hand: `header` and `claims` as given, signed by `sign` over
    /// `header.claims` (the signature part is empty when `sign` gives nothing).
    fn hand_made(header: &str, claims: &Claims, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header),
            B64.encode(serde_json::to_vec(claims).unwrap())
        );
        let sig = sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig))
    }

    #[test]
    fn jwt_round_trips_and_refuses_forgery_expiry_and_other_algorithms() {
        let key = [7u8; 32];
        let c = Claims {
            sub: "olga".into(),
            jti: "j".into(),
            iat: 1,
            exp: 100,
        };
        let t = jwt_sign(&key, &c).unwrap();
        assert_eq!(jwt_verify(&key, &t, 50).unwrap().sub, "olga");
        assert!(jwt_verify(&key, &t, 100).is_none(), "expired");
        assert!(jwt_verify(&[8u8; 32], &t, 50).is_none(), "other key");
        let mut forged = t.clone();
        forged.push('A');
        assert!(jwt_verify(&key, &forged, 50).is_none());
        let (_, rest) = t.split_once('.').unwrap();
        let none = format!("{}.{}", B64.encode(r#"{"alg":"none"}"#), rest);
        assert!(
            jwt_verify(&key, &none, 50).is_none(),
            "alg none, HS256 signature"
        );

        use hmac::{Hmac, Mac};
        let hs256 = |i: &[u8]| {
            let mut m = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            m.update(i);
            m.finalize().into_bytes().to_vec()
        };
        let hs512 = |i: &[u8]| {
            let mut m = Hmac::<sha2::Sha512>::new_from_slice(&key).unwrap();
            m.update(i);
            m.finalize().into_bytes().to_vec()
        };
        // The hand-made token is right when it says HS256 and is signed so...
        let good = hand_made(r#"{"alg":"HS256","typ":"JWT"}"#, &c, hs256);
        assert_eq!(jwt_verify(&key, &good, 50).unwrap().jti, "j");
        // ...and refused when it names another algorithm, even signed with the right key.
        let other = hand_made(r#"{"alg":"HS512","typ":"JWT"}"#, &c, hs512);
        assert!(
            jwt_verify(&key, &other, 50).is_none(),
            "HS512 with the right key"
        );
        // No signature at all, whatever the header says.
        let unsigned = hand_made(r#"{"alg":"HS256","typ":"JWT"}"#, &c, |_| Vec::new());
        assert!(unsigned.ends_with('.'), "{unsigned}");
        assert!(jwt_verify(&key, &unsigned, 50).is_none(), "empty signature");
        let none = hand_made(r#"{"alg":"none","typ":"JWT"}"#, &c, |_| Vec::new());
        assert!(
            jwt_verify(&key, &none, 50).is_none(),
            "alg none, empty signature"
        );
    }
}
