// Trade the server's token for its session cookie, then go where the user was headed.
const form = document.querySelector("#login-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/api/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: document.querySelector("#token").value }),
  });
  if (response.ok) {
    const next = new URLSearchParams(location.search).get("next") || "/";
    location.href = next.startsWith("/") && !next.startsWith("//") ? next : "/";  // never off this site
    return;
  }
  const body = await response.json().catch(() => null);
  document.querySelector("#login-error").textContent = (body && body.message) || response.statusText;
});
