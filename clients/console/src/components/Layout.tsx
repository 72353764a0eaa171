/** The frame of every signed-in page: skip link, navigation, who is signed in, sign-out. */
import { NavLink, Outlet, useLocation, useNavigate } from "react-router";
import { ErrorBoundary } from "./ErrorBoundary.js";
import { Role } from "../../../../gen/lotty/access/v1/access_pb.js";
import { useUser, useSession } from "../api/session.js";

export function roleName(role: Role): string {
  return (Role[role] ?? String(role)).toLowerCase();
}

export function Layout() {
  const { user } = useUser();
  const { signOut } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Lotty</span>
        <nav aria-label="Main">
          <ul>
            <li>
              <NavLink to="/experiments">Experiments</NavLink>
            </li>
            <li>
              <NavLink to="/learnings">Learnings</NavLink>
            </li>
            <li>
              <NavLink to="/flags">Flags</NavLink>
            </li>
            <li>
              <NavLink to="/catalog">Catalog</NavLink>
            </li>
            <li>
              <NavLink to="/saved-segments">Saved segments</NavLink>
            </li>
            <li>
              <NavLink to="/triggers">Guardrail triggers</NavLink>
            </li>
            <li>
              <NavLink to="/notifications">Notifications</NavLink>
            </li>
            <li>
              <NavLink to="/data-quality">Data quality</NavLink>
            </li>
          </ul>
        </nav>
        <div className="who">
          <span>
            {user.displayName}{" "}
            <span className="roles">({user.roles.map(roleName).join(", ")})</span>
          </span>
          <button
            type="button"
            onClick={() => {
              signOut();
              void navigate("/sign-in");
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary resetKey={location.pathname}>
          <Outlet />
        </ErrorBoundary>
      </main>
    </>
  );
}
