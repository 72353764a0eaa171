import { Link } from "react-router";

export function NotFoundPage() {
  return (
    <>
      <h1>Page not found</h1>
      <p>
        There is no console page at this address.{" "}
        <Link to="/experiments">Go to the experiments</Link>.
      </p>
    </>
  );
}
