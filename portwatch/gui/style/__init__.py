"""How the window looks and shows text: the colour scheme, risk colours and icons, plain text."""
