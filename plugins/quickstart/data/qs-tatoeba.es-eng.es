El panadero juega al fútbol en la cocina al mediodía.
El panadero pinta un cuadro en el parque el domingo.
El anciano canta una canción en el jardín cada día.
El granjero canta una canción en la ciudad cada día.
La estudiante pinta un cuadro en el parque al mediodía.
La maestra prepara la cena en casa por la mañana.
El médico lee un libro en la cocina cada día.
Mi vecino pinta un cuadro en el jardín el domingo.
El niño escribe una carta en la escuela por la mañana.
El niño pinta un cuadro en la ciudad por la noche.
Mi vecino juega al fútbol en el jardín el domingo.
La maestra compra pan en el jardín cada día.
El anciano juega al fútbol en la cocina por la noche.
La maestra prepara la cena en la escuela al mediodía.
El anciano prepara la cena en el parque el domingo.
La estudiante compra pan en casa por la mañana.
Mi vecino juega al fútbol en el parque por la mañana.
La maestra escribe una carta en la ciudad cada día.
La maestra prepara la cena en la cocina el domingo.
El niño pinta un cuadro en la escuela por la mañana.
El granjero compra pan en la ciudad por la mañana.
El médico compra pan en casa por la mañana.
El anciano canta una canción en la cocina por la noche.
El panadero canta una canción en el jardín por la noche.
El niño juega al fútbol en casa al mediodía.
Mi vecino bebe café en el jardín el domingo.
La maestra pinta un cuadro en casa por la noche.
La maestra compra pan en la cocina cada día.
El médico juega al fútbol en el jardín cada día.
La estudiante pinta un cuadro en casa al mediodía.
El niño prepara la cena en el jardín por la noche.
El anciano bebe café en la escuela por la noche.
La maestra compra pan en el parque el domingo.
El médico escribe una carta en el jardín al mediodía.
El granjero escribe una carta en casa por la mañana.
El panadero juega al fútbol en casa por la noche.
El niño compra pan en la cocina el domingo.
La estudiante compra pan en casa por la noche.
El médico escribe una carta en la ciudad por la noche.
Mi vecino lee un libro en la cocina por la mañana.
La maestra pinta un cuadro en la escuela el domingo.
El médico canta una canción en el jardín cada día.
El médico compra pan en la ciudad el domingo.
El médico pinta un cuadro en la cocina el domingo.
El niño prepara la cena en la cocina el domingo.
Mi vecino pinta un cuadro en la ciudad al mediodía.
El niño lee un libro en el parque el domingo.
El médico canta una canción en la cocina por la noche.
El granjero prepara la cena en el jardín por la noche.
El panadero compra pan en la escuela por la noche.
El anciano compra pan en la ciudad cada día.
El médico lee un libro en la escuela cada día.
El panadero pinta un cuadro en el jardín el domingo.
La estudiante compra pan en el jardín cada día.
El granjero escribe una carta en la cocina por la mañana.
La estudiante canta una canción en el parque cada día.
El panadero prepara la cena en la ciudad el domingo.
El panadero compra pan en el parque al mediodía.
El anciano pinta un cuadro en casa al mediodía.
El médico pinta un cuadro en la escuela por la noche.
El panadero escribe una carta en el parque el domingo.
La estudiante escribe una carta en la escuela cada día.
El granjero escribe una carta en el parque cada día.
El panadero escribe una carta en la ciudad el domingo.
Mi vecino juega al fútbol en la escuela el domingo.
El panadero lee un libro en casa al mediodía.
La maestra compra pan en la ciudad por la noche.
La estudiante escribe una carta en la ciudad cada día.
El anciano prepara la cena en la escuela por la noche.
El granjero prepara la cena en el jardín al mediodía.
El niño escribe una carta en la escuela al mediodía.
El niño bebe café en la escuela al mediodía.
La maestra prepara la cena en el parque por la noche.
El granjero prepara la cena en la ciudad al mediodía.
La estudiante lee un libro en casa el domingo.
El panadero bebe café en la cocina al mediodía.
Mi vecino pinta un cuadro en el parque al mediodía.
El anciano prepara la cena en la cocina al mediodía.
Mi vecino canta una canción en el jardín por la noche.
El médico pinta un cuadro en la ciudad cada día.
El niño escribe una carta en la cocina por la mañana.
El niño canta una canción en casa cada día.
El panadero compra pan en el parque el domingo.
El médico prepara la cena en la escuela por la mañana.
Mi vecino lee un libro en la ciudad cada día.
El niño compra pan en casa por la mañana.
Mi vecino escribe una carta en el parque por la noche.
El granjero compra pan en casa al mediodía.
La estudiante lee un libro en la escuela por la mañana.
Mi vecino pinta un cuadro en el jardín por la noche.
El granjero escribe una carta en el jardín cada día.
El niño escribe una carta en la escuela por la noche.
El médico compra pan en el jardín cada día.
Mi vecino pinta un cuadro en la cocina por la mañana.
El granjero compra pan en el jardín cada día.
El granjero juega al fútbol en casa al mediodía.
El granjero lee un libro en la cocina por la noche.
El granjero canta una canción en la escuela por la mañana.
Mi vecino lee un libro en la escuela por la noche.
El panadero bebe café en la cocina por la mañana.
La maestra prepara la cena en la ciudad al mediodía.
El panadero bebe café en la escuela por la noche.
El panadero juega al fútbol en el jardín el domingo.
El médico pinta un cuadro en la ciudad al mediodía.
La maestra compra pan en el jardín por la noche.
La maestra escribe una carta en la cocina cada día.
La estudiante canta una canción en la cocina al mediodía.
El anciano pinta un cuadro en la escuela el domingo.
El panadero bebe café en casa cada día.
Mi vecino compra pan en el jardín cada día.
El panadero pinta un cuadro en la escuela al mediodía.
El granjero juega al fútbol en casa por la noche.
La estudiante juega al fútbol en el parque por la noche.
El panadero prepara la cena en la cocina por la noche.
El médico bebe café en la cocina por la mañana.
El panadero canta una canción en casa por la mañana.
El anciano escribe una carta en el jardín al mediodía.
La maestra canta una canción en casa por la noche.
La estudiante prepara la cena en la cocina al mediodía.
La estudiante compra pan en la cocina cada día.
La maestra lee un libro en el parque cada día.
El granjero juega al fútbol en la cocina por la noche.
El niño compra pan en el jardín por la mañana.
El niño escribe una carta en casa cada día.
El granjero bebe café en la escuela al mediodía.
El anciano bebe café en la cocina al mediodía.
El anciano canta una canción en el jardín al mediodía.
El anciano compra pan en casa el domingo.
El granjero pinta un cuadro en el parque el domingo.
La estudiante lee un libro en la cocina por la mañana.
La estudiante bebe café en el parque por la mañana.
El médico escribe una carta en la cocina cada día.
Mi vecino bebe café en el parque el domingo.
La estudiante juega al fútbol en el jardín por la noche.
El panadero lee un libro en la escuela por la mañana.
El niño escribe una carta en casa por la mañana.
El panadero pinta un cuadro en la ciudad cada día.
El granjero compra pan en el jardín por la noche.
Mi vecino bebe café en el parque al mediodía.
El panadero canta una canción en el parque por la noche.
Mi vecino canta una canción en la ciudad por la noche.
El médico pinta un cuadro en la ciudad por la mañana.
El niño lee un libro en la ciudad por la mañana.
El panadero escribe una carta en casa al mediodía.
La maestra lee un libro en casa al mediodía.
El niño lee un libro en la escuela por la mañana.
Mi vecino juega al fútbol en la escuela por la noche.
El anciano juega al fútbol en la ciudad por la noche.
El granjero canta una canción en el jardín por la mañana.
El granjero compra pan en la ciudad por la noche.
El niño juega al fútbol en el parque por la mañana.
El médico lee un libro en la cocina por la noche.
El niño bebe café en la cocina al mediodía.
La estudiante pinta un cuadro en la ciudad el domingo.
El niño lee un libro en la cocina cada día.
El niño pinta un cuadro en la ciudad por la mañana.
El anciano escribe una carta en el jardín por la mañana.
El médico bebe café en la ciudad por la noche.
La maestra canta una canción en la escuela al mediodía.
La maestra bebe café en casa por la mañana.
El panadero escribe una carta en la ciudad por la mañana.
El médico prepara la cena en casa por la mañana.
El granjero prepara la cena en la ciudad por la noche.
Mi vecino bebe café en la ciudad por la noche.
El panadero bebe café en la cocina cada día.
El médico compra pan en la ciudad por la noche.
La maestra compra pan en el parque al mediodía.
El niño lee un libro en la escuela al mediodía.
El anciano escribe una carta en la ciudad por la mañana.
La maestra compra pan en el parque cada día.
El granjero prepara la cena en la cocina al mediodía.
El anciano canta una canción en la cocina cada día.
El anciano pinta un cuadro en la cocina por la mañana.
El anciano compra pan en la cocina por la noche.
El panadero prepara la cena en la ciudad por la noche.
El anciano prepara la cena en casa el domingo.
El niño juega al fútbol en la cocina por la mañana.
La maestra canta una canción en casa cada día.
El panadero juega al fútbol en el parque el domingo.
Mi vecino juega al fútbol en la escuela por la mañana.
Mi vecino lee un libro en el parque cada día.
El anciano prepara la cena en la cocina por la noche.
La maestra compra pan en el parque por la mañana.
El niño prepara la cena en casa cada día.
El niño compra pan en el jardín al mediodía.
El niño canta una canción en el parque el domingo.
El niño compra pan en la cocina al mediodía.
La estudiante prepara la cena en casa cada día.
La maestra lee un libro en la escuela por la mañana.
La estudiante prepara la cena en el jardín al mediodía.
La estudiante juega al fútbol en la escuela cada día.
El médico juega al fútbol en la cocina al mediodía.
El niño juega al fútbol en el parque el domingo.
El granjero compra pan en casa por la mañana.
La maestra juega al fútbol en la ciudad por la noche.
La maestra bebe café en el parque por la mañana.
El granjero escribe una carta en la cocina al mediodía.
El anciano prepara la cena en la escuela por la mañana.
El panadero compra pan en la cocina cada día.
La estudiante prepara la cena en la ciudad al mediodía.
