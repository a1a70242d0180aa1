"""Social login (Kakao, Google, Naver) by the authorization-code flow with state and PKCE."""
