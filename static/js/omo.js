// Small shared behaviour for the back-office. htmx does the rest.
document.addEventListener("htmx:responseError", (event) => {
  // A 4xx fragment (form errors) is swapped in like a 200; anything else says so.
  const status = event.detail.xhr.status;
  if (status >= 500) {
    alert("The server could not complete this request (" + status + "). Please try again.");
  }
});
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status === 400 || status === 409 || status === 422) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
